"""«Importar hoja legada» in the admin: upload a sheet, follow its job, read its report; and the empty template.

The legacy app has no model of its own to hang an import screen on, so the pages are admin views
added to the site's URLs (``admin/legacy/importar/…``) and listed under the app's heading on the
index and in the side bar. They run the same service as the API (``legacy.services.import_request``):
the upload is checked and stored under a server-made name, a worker imports it, and the job page
refreshes itself every two seconds until the report is there.

django-import-export's own import screen (``ImportMixin``) is not used: its row-by-row engine
takes minutes for the program's 62,700 rows and reports in its own shape; this screen keeps the
fast path's checks and report, which are the API's and the command's too.

Coordinators and administrators only (as everywhere in this admin, by role); a coordinator sees
the imports she started, an administrator all of them.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from installations.admin import _is_administrator, _is_program_staff
from legacy.rows import COLUMN_NAMES, COLUMNS
from legacy.services import import_request
from worker.models import ACTIVE_JOB_STATES, Job, JobKind

IMPORT_TEMPLATE = "admin/legacy/import.html"
JOB_TEMPLATE = "admin/legacy/import_job.html"
ERRORS_SHOWN = 1_000  # on the page; the CSV report has them all
RECENT_JOBS = 20


class LegacyImportForm(forms.Form):
    file = forms.FileField(
        label=_("Hoja legada"),
        help_text=_("Archivo .csv o .xlsx de hasta 20 MB, con los encabezados de la plantilla."),
    )
    dry_run = forms.BooleanField(
        label=_("Solo validar"),
        required=False,
        initial=True,
        help_text=_("Revisa cada fila y muestra el reporte sin guardar nada. Desmárquelo para importar."),
    )


def _visible_jobs(request: HttpRequest) -> QuerySet[Job]:
    jobs = Job.objects.filter(kind=JobKind.LEGACY_IMPORT).select_related("created_by")
    return jobs if _is_administrator(request.user) else jobs.filter(created_by=request.user)


def _check_access(request: HttpRequest) -> None:
    if not _is_program_staff(request.user):
        raise PermissionDenied


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    request.current_app = admin.site.name
    return {**admin.site.each_context(request), "title": title, "import_url": reverse("admin:legacy_import"), **extra}


def import_view(request: HttpRequest) -> HttpResponse:
    """The upload form, the template's columns and the caller's recent imports."""
    _check_access(request)
    from legacy.reading import declared_too_large, too_large_message

    status = 200
    if request.method == "POST":
        # An oversized body is refused before it is read (request.POST would parse it).
        if declared_too_large(request.META):
            form = LegacyImportForm(data={})  # bound, so that it can carry the error; the body is never read
            form.errors["file"] = form.error_class([too_large_message()])
            status = 413
        else:
            form = LegacyImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    job = import_request(upload=form.cleaned_data["file"], by=request.user, dry_run=form.cleaned_data["dry_run"])
                except ValidationError as refused:
                    for message in refused.message_dict.get("file", refused.messages):
                        form.add_error("file", message)
                else:
                    return HttpResponseRedirect(reverse("admin:legacy_import_job", args=[job.pk]))
    else:
        form = LegacyImportForm()
    context = _context(
        request,
        gettext("Importar hoja legada"),
        form=form,
        columns=[{"name": name, "required": required, "description": description} for name, required, description in COLUMNS],
        jobs=list(_visible_jobs(request)[:RECENT_JOBS]),
        template_url=reverse("admin:legacy_import_template"),
    )
    return TemplateResponse(request, IMPORT_TEMPLATE, context, status=status)


def _job(request: HttpRequest, job_id: uuid.UUID) -> Job:
    _check_access(request)
    job = _visible_jobs(request).filter(pk=job_id).first()
    if job is None:
        raise Http404(gettext("No hay una importación con ese identificador a su alcance."))
    return job


def job_view(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """One import: its progress while it runs (the page refreshes itself), then its report."""
    job = _job(request, job_id)
    report = job.result or {}
    errors = report.get("errors", [])
    total = job.progress_total
    context = _context(
        request,
        gettext("Importación de «%(name)s»") % {"name": job.parameters.get("name") or gettext("hoja legada")},
        job=job,
        active=job.state in ACTIVE_JOB_STATES,
        percent=round(100 * job.progress_done / total) if total else None,
        dry_run=bool(job.parameters.get("dry_run")),
        report=report,
        errors=errors[:ERRORS_SHOWN],
        errors_hidden=max(0, len(errors) - ERRORS_SHOWN),
        report_url=reverse("admin:legacy_import_report", args=[job.pk]),
    )
    return TemplateResponse(request, JOB_TEMPLATE, context)


def _csv_response(rows: list[list[Any]], filename: str) -> HttpResponse:
    """UTF-8 with a BOM, so that Excel opens accents correctly."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def report_view(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """The whole report of a finished import as CSV: fila, columna, mensaje."""
    job = _job(request, job_id)
    rows = [[gettext("fila"), gettext("columna"), gettext("mensaje")]]
    rows += [[e["row"], e["column"], e["message"]] for e in (job.result or {}).get("errors", [])]
    return _csv_response(rows, f"reporte_importacion_{job.pk.hex[:8]}.csv")


def template_view(request: HttpRequest) -> HttpResponse:
    """The empty sheet: the contract's columns, in order."""
    _check_access(request)
    return _csv_response([list(COLUMN_NAMES)], "plantilla_hoja_legada.csv")


# --- Wiring into the admin site ---------------------------------------------------------------------
def _install(site: admin.AdminSite) -> None:
    """Add the pages to ``site``'s URLs, and an «Importar hoja legada» entry under the legacy app."""
    site_urls: Callable[[], list[URLPattern]] = site.get_urls
    site_app_list = site.get_app_list

    def get_urls() -> list[URLPattern]:
        ours = [
            path("legacy/importar/", site.admin_view(import_view), name="legacy_import"),
            path("legacy/importar/plantilla.csv", site.admin_view(template_view), name="legacy_import_template"),
            path("legacy/importar/<uuid:job_id>/", site.admin_view(job_view), name="legacy_import_job"),
            path("legacy/importar/<uuid:job_id>/reporte.csv", site.admin_view(report_view), name="legacy_import_report"),
        ]
        return ours + site_urls()

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = site_app_list(request, app_label)
        if app_label not in (None, "legacy") or not _is_program_staff(request.user):
            return app_list
        url = reverse("admin:legacy_import", current_app=site.name)
        entry = {
            "model": None,
            "name": gettext("Importar hoja legada"),
            "object_name": "LegacyImport",
            "perms": {"add": True, "change": False, "delete": False, "view": True},
            "admin_url": url,
            "add_url": None,
            "view_only": True,
        }
        app = next((a for a in app_list if a["app_label"] == "legacy"), None)
        if app is None:
            from django.apps import apps

            app = {
                "name": apps.get_app_config("legacy").verbose_name,
                "app_label": "legacy",
                "app_url": url,
                "has_module_perms": True,
                "models": [],
            }
            app_list.append(app)
            app_list.sort(key=lambda a: str(a["name"]).lower())
        app["models"].append(entry)
        app["models"].sort(key=lambda m: str(m["name"]))
        return app_list

    site.get_urls = get_urls  # type: ignore[method-assign]  -- one site, extended once at start-up
    site.get_app_list = get_app_list  # type: ignore[method-assign]


_install(admin.site)
