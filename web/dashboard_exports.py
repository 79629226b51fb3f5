"""The dashboard's downloads: what the filters show, exported through the same services as the API.

``GET /tablero/descargar/<kind>.<format>?<the dashboard's filters>`` checks the filters with the
dashboard's form (a coordinator may only name her alcaldías: else 400 naming the field), turns them
into the API's filters and reads the records with ``legacy.exports.export_queryset`` (the API's
FilterSet, in the user's scope), as the export worker does. Up to HARVEST_EXPORT_SYNC_MAX_ROWS rows
the file comes at once (``export_build``: masked, one ExportLog row, an attachment no cache keeps);
above it the export is queued (``export_request``) and the browser is sent to a page that follows the
job (htmx polling) and, once the worker has built the file, links to the API's download
(``GET /api/v1/exports/files/{job id}/``, which the session authenticates). Full personal data is
never offered here: managers who may ask for it do so through the API or the administration.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from api.exports import file_response
from legacy.exports import (
    export_build,
    export_expires_at,
    export_file_available,
    export_queryset,
    export_request,
    export_row_count,
    export_sync_max_rows,
    filters_logged,
)
from legacy.models import ExportChannel, ExportFormat, ExportKind
from web.dashboard import EXPORT_FILTERS, export_label, filter_form_for, job_context, manager_required
from web.dashboard_data import DashboardFilterForm
from worker.models import Job, JobKind, JobState

WEB = ExportChannel.WEB  # the log's channel for downloads from the dashboard


@require_GET
@manager_required
def dashboard_download(request: HttpRequest, kind: str, file_format: str) -> HttpResponse:
    """Export what the filters show: the file now, or a queued job and the page that follows it."""
    if kind not in EXPORT_FILTERS or file_format not in ExportFormat.values:
        raise Http404
    form = filter_form_for(request, request.GET)
    if not form.is_valid():
        context = {"form": form, "kind_label": export_label(kind), "back": reverse("web:dashboard")}
        return render(request, "web/dashboard/export_invalid.html", context, status=400)
    chosen = {name: value for name, value in form.chosen().items() if name in EXPORT_FILTERS[kind]}
    user = request.user
    # The API's filters, by the API's names: the same FilterSet narrows the records here and in the worker.
    # The padrón is filtered by its year alone (export_request keeps no query for it); its log keeps the year.
    query = _as_query(chosen)
    if kind == ExportKind.PADRON:
        program_year, queryset = chosen.get("program_year"), None
    else:
        program_year, queryset = None, export_queryset(kind=kind, user=user, query=query)
    if export_row_count(kind=kind, user=user, queryset=queryset, program_year=program_year) > export_sync_max_rows():
        job = export_request(user=user, kind=kind, file_format=file_format, query=query, program_year=program_year, channel=WEB)
        return HttpResponseRedirect(reverse("web:dashboard_export", args=[job.pk]))
    export = export_build(
        user=user,
        kind=kind,
        file_format=file_format,
        queryset=queryset,
        program_year=program_year,
        filters=filters_logged(query),
        channel=WEB,
    )
    return file_response(export)


def _as_query(chosen: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [str(value)] for name, value in chosen.items()}


def _export_job(request: HttpRequest, pk: Any) -> Job:
    """The user's own export job (anybody else's, an administrator's too, does not exist here)."""
    return get_object_or_404(Job, pk=pk, kind=JobKind.EXPORT, created_by=request.user)


def export_job_context(job: Job) -> dict[str, Any]:
    """What the export's progress shows: state, rows written of total, and the download link once built."""
    available = job.state == JobState.SUCCEEDED and export_file_available(job)
    return {
        **job_context(job),
        "kind_label": export_label(job.parameters.get("kind", ExportKind.INSTALLATIONS)),
        "file_format": str(job.parameters.get("format", "")).upper(),
        "filters": job.parameters.get("query")
        or ({"program_year": [job.parameters["program_year"]]} if job.parameters.get("program_year") else {}),
        "download_url": reverse("export-file", args=[job.pk]) if available else "",
        "expires_at": export_expires_at(job) if available else None,
        "expired": job.state == JobState.SUCCEEDED and not available,
    }


@require_GET
@manager_required
def dashboard_export(request: HttpRequest, pk: str) -> HttpResponse:
    """A queued export's page (its owner only); with htmx, only its progress, polled until it ends."""
    job = _export_job(request, pk)
    context = export_job_context(job)
    if request.headers.get("HX-Request"):
        return render(request, "web/dashboard/_export_progress.html", context)
    filters = {name: values[0] for name, values in context["filters"].items() if values}
    fields = DashboardFilterForm.base_fields
    context["filter_rows"] = [
        (fields[name].label if name in fields else name, ", ".join(map(str, values)))
        for name, values in context["filters"].items()
    ]
    context["back"] = reverse("web:dashboard") + (f"?{urlencode(filters)}" if filters else "")
    return render(request, "web/dashboard/export.html", context)
