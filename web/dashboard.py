"""The managers' dashboard: coverage figures from the latest snapshot, a map, refresh and downloads.

Coordinators see their alcaldías, administrators the whole city; technicians get 403. The page reads
a handful of stored slices (never statistics computed in the request); with htmx the filters swap the
figures in place and a refresh shows its job's progress, then reloads them. Without JavaScript the
filters are a plain GET form and the refresh a POST that comes back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from api.permissions import is_manager
from coverage.services import coverage_refresh_request
from legacy.models import ExportFormat, ExportKind
from web.dashboard_data import (
    MAP_POINTS_LIMIT,
    DashboardFilterForm,
    coverage_job,
    coverage_job_active,
    dashboard_figures,
    is_city_wide,
    map_points,
    scope_alcaldias,
)
from worker.models import ACTIVE_JOB_STATES, Job, JobState

FIGURES_TARGET = "cifras"
FILTER_NAMES = ("program_year", "alcaldia", "modality")
# The dashboard's filters each kind of export applies (the padrón is filtered by year only, as in the API).
EXPORT_FILTERS: dict[str, tuple[str, ...]] = {
    ExportKind.INSTALLATIONS: FILTER_NAMES,
    ExportKind.APPLICATIONS: FILTER_NAMES,
    ExportKind.PADRON: ("program_year",),
}
EXPORT_LABELS = {
    ExportKind.INSTALLATIONS: gettext_lazy("Instalaciones"),
    ExportKind.APPLICATIONS: gettext_lazy("Solicitudes"),
    ExportKind.PADRON: gettext_lazy("Padrón de beneficiarios"),
}


def export_label(kind: str) -> str:
    """An export's name on the page, translated."""
    return str(EXPORT_LABELS[kind])


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in coordinators and administrators only: others are sent to sign in, technicians get 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_manager(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def filter_form_for(request: HttpRequest, data: Any) -> DashboardFilterForm:
    """The dashboard's filter form for the user's scope, bound to ``data`` (the filters by name)."""
    user = request.user
    return DashboardFilterForm(
        {name: data.get(name, "") for name in FILTER_NAMES},
        alcaldias=scope_alcaldias(user),
        city_wide=is_city_wide(user),
    )


def _query(values: dict[str, Any]) -> str:
    return urlencode({name: values[name] for name in FILTER_NAMES if values.get(name) not in (None, "")})


def _downloads(filters: dict[str, Any]) -> list[dict[str, Any]]:
    """The download buttons: each kind in CSV and XLSX, through the dashboard's export view, with its filters."""
    links = []
    for kind, names in EXPORT_FILTERS.items():
        query = _query({name: filters.get(name) for name in names})
        formats = []
        for file_format in (ExportFormat.CSV, ExportFormat.XLSX):
            url = reverse("web:dashboard_download", kwargs={"kind": kind, "file_format": file_format})
            formats.append({"label": file_format.upper(), "url": f"{url}?{query}" if query else url})
        links.append({"label": export_label(kind), "formats": formats})
    return links


def job_context(job: Job | None) -> dict[str, Any]:
    """A job's progress for the pages: the job, whether it still runs, and its percent (None until it has a total)."""
    if job is None:
        return {"job": None}
    total = job.progress_total
    return {
        "job": job,
        "job_active": job.state in ACTIVE_JOB_STATES,
        "job_percent": round(100 * job.progress_done / total) if total else None,
    }


@require_GET
@manager_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The dashboard page; with htmx aimed at the figures, only the figures (same filters, same reads)."""
    form = filter_form_for(request, request.GET)
    valid = form.is_valid()
    filters = form.chosen() if valid else {}
    context: dict[str, Any] = {
        "form": form,
        "filters_valid": valid,
        "query": _query(filters),
        "map_limit": MAP_POINTS_LIMIT,
        "downloads": _downloads(filters),
        "figures": None,
    }
    if valid:
        context["figures"] = dashboard_figures(filters=filters, alcaldias=form.alcaldias, city_wide=form.city_wide)
    status = 200 if valid else 400
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == FIGURES_TARGET:
        return render(request, "web/dashboard/_figures.html", context, status=status)
    context.update(job_context(coverage_job_active()))
    return render(request, "web/dashboard/dashboard.html", context, status=status)


@require_GET
@manager_required
def dashboard_map_points(request: HttpRequest) -> JsonResponse:
    """The map's points as JSON: coordinates only (rounded), the user's alcaldías, capped to the most recent."""
    form = filter_form_for(request, request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    points, capped = map_points(user=request.user, filters=form.chosen(), limit=MAP_POINTS_LIMIT)
    response = JsonResponse({"points": points, "capped": capped, "limit": MAP_POINTS_LIMIT})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@manager_required
def dashboard_refresh(request: HttpRequest) -> HttpResponse:
    """Queue a coverage compile (or take the one under way); htmx gets its progress, a plain form the page again."""
    job, _created = coverage_refresh_request(by=request.user)
    if request.headers.get("HX-Request"):
        return render(request, "web/dashboard/_progress.html", job_context(job))
    messages.info(request, _("Se pidió actualizar las cifras; la página muestra el avance."))
    query = _query({name: request.POST.get(name, "") for name in FILTER_NAMES})
    return HttpResponseRedirect(reverse("web:dashboard") + (f"?{query}" if query else ""))


@require_GET
@manager_required
def dashboard_job(request: HttpRequest, pk: str) -> HttpResponse:
    """A coverage compile's progress (state, steps done of total); once it succeeds, tells the page to reload."""
    job = coverage_job(pk)
    if job is None:
        raise Http404
    response = render(request, "web/dashboard/_progress.html", job_context(job))
    if job.state == JobState.SUCCEEDED:
        response["HX-Trigger"] = "cobertura-actualizada"
    return response
