"""The technicians' pages, built for a phone: the worklist and the three field forms.

Reads come from installations/selectors.py (the worklist, nearest first, and the scoped querysets);
writes go through the same services as the API (technical_visit_record, installation_record,
maintenance_visit_record), whose errors are shown next to the fields they name. The GPS reading is
stored on the record by its service; the photos, cleaned by web/photos.py, by field_photos_store in
the same transaction as the record.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from api.permissions import is_technician
from installations.exceptions import DomainError
from installations.lifecycle import Status
from installations.models import CDMX_LATITUDE_RANGE, CDMX_LONGITUDE_RANGE, Component, GpsReadingModel
from installations.selectors import (
    application_queryset,
    installation_queryset,
    technical_visit_queryset,
    worklist_nearest,
)
from installations.services import (
    field_photos_store,
    installation_record,
    maintenance_visit_record,
    technical_visit_record,
)
from web.field_forms import FieldCaptureForm, InstallationForm, MaintenanceVisitForm, TechnicalVisitForm


# --- Reads ---------------------------------------------------------------------------------------------
def origin_from_query(request: HttpRequest) -> tuple[float, float] | None:
    """The phone's position from ?lat=&lng=, if both are numbers inside Mexico City; else None."""
    try:
        latitude = Decimal(request.GET.get("lat", ""))
        longitude = Decimal(request.GET.get("lng", ""))
    except InvalidOperation:
        return None
    if not (latitude.is_finite() and longitude.is_finite()):
        return None
    inside = (
        CDMX_LATITUDE_RANGE[0] <= latitude <= CDMX_LATITUDE_RANGE[1]
        and CDMX_LONGITUDE_RANGE[0] <= longitude <= CDMX_LONGITUDE_RANGE[1]
    )
    return (float(latitude), float(longitude)) if inside else None


# --- Access --------------------------------------------------------------------------------------------
def technician_required[**P](view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """Anonymous callers go to the sign-in page; signed-in people who are not technicians get 403."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        request = args[0]
        assert isinstance(request, HttpRequest)
        if not is_technician(request.user):  # type: ignore[arg-type]
            raise PermissionDenied(_("Estas páginas son para el personal técnico de campo."))
        return view(*args, **kwargs)

    return login_required(wrapped)


# --- Views ---------------------------------------------------------------------------------------------
@technician_required
def worklist_view(request: HttpRequest) -> HttpResponse:
    """Today's and overdue work, nearest first when the phone sent its position."""
    asked_for_distance = "lat" in request.GET or "lng" in request.GET
    origin = origin_from_query(request)
    work = worklist_nearest(user=request.user, origin=origin)  # type: ignore[arg-type]
    context = {
        "work": work,
        "today": timezone.localdate(),
        "location_refused": asked_for_distance and origin is None,
        # "?orden=fecha" is the technician asking for the date order: the page then does not locate itself.
        "auto_locate": request.GET.get("orden") != "fecha",
    }
    return render(request, "web/field/worklist.html", context)


@technician_required
def technical_visit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a technical visit assigned to the caller and not yet made."""
    visit = get_object_or_404(technical_visit_queryset(user=request.user), pk=pk, visited_on=None)  # type: ignore[arg-type]
    form = TechnicalVisitForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            write=lambda: technical_visit_record(visit=visit, by=request.user, **form.service_arguments()),
            done=_("Visita técnica del folio %(folio)s guardada.") % {"folio": visit.application.folio_display},
        )
        if saved is not None:
            return saved
    context = {"form": form, "record": visit, "application": visit.application, "dwelling": visit.application.dwelling}
    return render(request, "web/field/technical_visit.html", context, status=400 if form.errors else 200)


@technician_required
def installation_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the system installed for a request scheduled for installation."""
    application = get_object_or_404(
        application_queryset(user=request.user),  # type: ignore[arg-type]
        pk=pk,
        status=Status.INSTALLATION_SCHEDULED,
        installation__isnull=True,
    )
    form = InstallationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            write=lambda: installation_record(
                application=application, technician=request.user, by=request.user, **form.service_arguments()
            ),
            done=_("Instalación del folio %(folio)s guardada.") % {"folio": application.folio_display},
        )
        if saved is not None:
            return saved
    context = {"form": form, "application": application, "dwelling": application.dwelling}
    return render(request, "web/field/installation.html", context, status=400 if form.errors else 200)


@technician_required
def maintenance_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a maintenance visit to one of the caller's systems."""
    installation = get_object_or_404(installation_queryset(user=request.user), pk=pk)  # type: ignore[arg-type]
    form = MaintenanceVisitForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            write=lambda: maintenance_visit_record(
                installation=installation, technician=request.user, by=request.user, **form.service_arguments()
            ),
            done=_("Mantenimiento del folio %(folio)s guardado.") % {"folio": installation.application.folio_display},
        )
        if saved is not None:
            return saved
    context = {
        "form": form,
        "installation": installation,
        "application": installation.application,
        "dwelling": installation.dwelling,
    }
    return render(request, "web/field/maintenance.html", context, status=400 if form.errors else 200)


# --- Helpers -------------------------------------------------------------------------------------------
def _save(request: HttpRequest, form: FieldCaptureForm, *, write: Callable[[], Model], done: str) -> HttpResponse | None:
    """Write the record (with its GPS reading) through its service, then its photos, in one transaction.

    Returns the redirect to the worklist, or None when a service refused (its errors are then on the form).
    """
    try:
        with transaction.atomic():
            record = write()
            field_photos_store(record=record, photos=form.cleaned_data["photos"], by=request.user)  # type: ignore[arg-type]
    except ValidationError as error:
        _errors_to_form(form, error)
        return None
    except DomainError as error:  # e.g. the lifecycle refusing the step: nothing was written
        form.add_error(None, str(error))
        return None
    messages.success(request, done)
    return redirect("web:worklist")


def _errors_to_form(form: FieldCaptureForm, error: ValidationError) -> None:
    """Put a service's errors next to the fields they name; the rest at the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    kinds = Component.Kind.values
    for name, messages_ in error.message_dict.items():
        if name.startswith("components[") and isinstance(form, InstallationForm):
            chosen = [kind for kind in kinds if form.cleaned_data.get(f"component_{kind}")]
            index = int(name[len("components[") : -1])
            if index < len(chosen):
                form.add_error(f"size_{chosen[index]}", messages_)
                continue
        if name in GpsReadingModel.GPS_FIELDS:  # the reading's hidden inputs: shown next to the GPS block
            form.add_error("latitude", messages_)
            continue
        if name in form.fields and name != NON_FIELD_ERRORS:
            form.add_error(name, messages_)
        else:
            form.add_error(None, messages_)
