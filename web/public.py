"""The households' pages, without an account: the program, the request, the receipt, the status, privacy.

The pages are thin covers over what the API's household endpoints use (``api/public.py``): the
same serializers check the input, ``installations.services.application_register`` writes the
request, ``installations.lookup.application_status_lookup`` reads its status, and the same atomic
counters throttle both (a registration counts every attempt; a lookup keeps only its failures,
per client and per folio). A wrong code and an unknown folio get the same page, word for word.

The verification code is shown once, on the page that answers the registration's POST: it is
never stored in clear (the database keeps an HMAC), never put in a session, a URL or the QR code.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from itertools import groupby
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import Throttled

from api.counters import client_ip
from api.public import LookupGuard, registration_wait_s
from installations.exceptions import EligibilityError
from installations.identifiers import folio_display, folio_normalize
from installations.lookup import PublicStatus, application_status_lookup, folio_fingerprint, program_year_open
from installations.models import Application, EligibleColonia, Modality, ProgramYear
from installations.selectors import eligible_colonia_queryset
from installations.services import application_register
from web.public_forms import RegistrationForm, StatusLookupForm

logger = logging.getLogger("harvest.public")


@dataclass(frozen=True)
class AlcaldiaColonias:
    """One alcaldía's colonias in a year's call, for the public page."""

    alcaldia: str
    colonias: list[EligibleColonia]


def _eligible(program_year: ProgramYear | None) -> list[EligibleColonia]:
    return list(eligible_colonia_queryset(program_year=program_year)) if program_year else []


def colonias_by_alcaldia(eligible: list[EligibleColonia]) -> list[AlcaldiaColonias]:
    """The year's colonias grouped by alcaldía, both in alphabetical order."""
    rows = sorted(eligible, key=lambda row: (row.colonia.alcaldia.name, row.colonia.name))
    return [
        AlcaldiaColonias(alcaldia=name, colonias=list(group))
        for name, group in groupby(rows, key=lambda row: row.colonia.alcaldia.name)
    ]


def day_text(day: date) -> str:
    """A day as people write it: «3 de febrero de 2025» (Spanish months in lower case), «Feb. 3, 2025»."""
    text = date_format(day, "DATE_FORMAT")
    return text.lower() if (get_language() or "").startswith("es") else text


def _minutes(seconds: int) -> int:
    return max(math.ceil(seconds / 60), 1)


def _too_many(response: HttpResponse, seconds: int) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(max(seconds, 1))
    return response


# --- The program ------------------------------------------------------------------------------------
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What the program gives, who can apply this year (the colonias, by alcaldía) and how it goes."""
    program_year = program_year_open()
    eligible = _eligible(program_year)
    context = {
        "program_year": program_year,
        "alcaldias": colonias_by_alcaldia(eligible),
        "colonia_count": len(eligible),
        "has_partial": any(row.modality == Modality.PARTIAL_SUBSIDY for row in eligible),
    }
    return render(request, "web/public/home.html", context)


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    """The privacy notice (aviso de privacidad integral)."""
    return render(request, "web/public/privacy.html", {"program_year": program_year_open()})


# --- Self-registration --------------------------------------------------------------------------------
def status_qr_svg(url: str) -> SafeString:
    """A QR code for ``url`` as inline SVG (drawn here, no image service), labelled for screen readers."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    label = format_html('<svg role="img" aria-label="{}" class="qr" ', _("Código QR que abre la consulta de su solicitud"))
    # The SVG is qrcode's own output for a URL made of the folio's letters, digits and dashes.
    return mark_safe(svg.replace("<svg ", label, 1))  # noqa: S308


@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """The self-registration form; a valid one answers with the receipt (folio and code, once)."""
    program_year = program_year_open()
    eligible = _eligible(program_year)
    context: dict[str, object] = {"program_year": program_year, "has_colonias": bool(eligible)}
    if request.method != "POST":
        context["form"] = RegistrationForm(eligible=eligible)
        return render(request, "web/public/register.html", context)

    wait_s = registration_wait_s(client_ip(request))
    if wait_s:
        # Not even checked: the form comes back as typed, with the reason at the top.
        context["form"] = RegistrationForm(eligible=eligible, initial=request.POST.dict())
        context["refusal"] = ngettext(
            "Se enviaron demasiadas solicitudes desde esta conexión. Intente de nuevo en %(minutes)d minuto.",
            "Se enviaron demasiadas solicitudes desde esta conexión. Intente de nuevo en %(minutes)d minutos.",
            _minutes(wait_s),
        ) % {"minutes": _minutes(wait_s)}
        return _too_many(render(request, "web/public/register.html", context), wait_s)

    form = RegistrationForm(request.POST, eligible=eligible)
    context["form"] = form
    if not form.is_valid():
        return render(request, "web/public/register.html", context, status=400)
    serializer = form.serializer
    try:
        application, code = application_register(
            program_year=serializer.validated_data["program_year"],
            applicant=serializer.applicant(),
            dwelling=serializer.dwelling(),
            channel=Application.Channel.PORTAL,
            privacy_consent_at=timezone.now(),
        )
    except (EligibilityError, DjangoValidationError) as error:
        form.add_domain_error(error)
        return render(request, "web/public/register.html", context, status=400)

    logger.info("portal registration (web): folio %s", folio_fingerprint(application.folio))
    folio = application.folio_display
    status_url = request.build_absolute_uri(f"{reverse('web:status')}?{urlencode({'folio': folio})}")
    receipt = {
        "folio": folio,
        "verification_code": code,
        "program_year": application.program_year_id,
        "registered_on": day_text(timezone.localdate(application.created_at)),
        "colonia": application.dwelling.colonia.name,
        "alcaldia": application.dwelling.colonia.alcaldia.name,
        "modality": application.get_modality_display(),
        "status_url": status_url,
        "qr_svg": status_qr_svg(status_url),
    }
    return render(request, "web/public/receipt.html", {"receipt": receipt})


# --- Status lookup ------------------------------------------------------------------------------------
def not_found_message() -> str:
    """The one answer for an unknown folio and for a wrong code: the page cannot tell them apart."""
    return _(
        "No encontramos una solicitud con ese folio y ese código de verificación. "
        "Revise los dos datos en su comprobante e intente de nuevo."
    )


def _throttled_message(seconds: int) -> str:
    minutes = _minutes(seconds)
    return ngettext(
        "Hubo demasiados intentos fallidos. Por seguridad, espere %(minutes)d minuto antes de volver a consultar.",
        "Hubo demasiados intentos fallidos. Por seguridad, espere %(minutes)d minutos antes de volver a consultar.",
        minutes,
    ) % {"minutes": minutes}


def _timeline(found: PublicStatus) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = [
        {"label": step.status_label, "on": day_text(step.on), "current": False} for step in found.history
    ]
    if not steps or found.history[-1].status != found.status:  # imported rows may lack their history
        steps.append({"label": found.status_label, "on": day_text(found.updated_on), "current": True})
    else:
        steps[-1]["current"] = True
    return steps


@never_cache
@require_http_methods(["GET", "POST"])
def status(request: HttpRequest) -> HttpResponse:
    """Folio and code in (a plain POST form, no JavaScript needed), the request's timeline out.

    ``GET ?folio=…`` (the receipt's QR code) only fills in the folio: the code never travels in a URL.
    """
    if request.method != "POST":
        form = StatusLookupForm(initial={"folio": request.GET.get("folio", "")[:40]})
        return render(request, "web/public/status.html", {"form": form})

    form = StatusLookupForm(request.POST)
    context: dict[str, object] = {"form": form}
    if not form.is_valid():
        return render(request, "web/public/status.html", context, status=400)
    folio, code = form.serializer.validated_data["folio"], form.serializer.validated_data["code"]
    guard = LookupGuard(client=client_ip(request), folio=folio_fingerprint(folio))
    try:
        guard.admit()
    except Throttled as refused:
        wait_s = int(refused.wait or 1)
        context["refusal"] = _throttled_message(wait_s)
        return _too_many(render(request, "web/public/status.html", context), wait_s)
    found = application_status_lookup(folio, code)
    if found is None:
        guard.failed()
        context["not_found"] = not_found_message()
        return render(request, "web/public/status.html", context, status=404)
    guard.succeeded()
    context.update(
        found=found, updated_on=day_text(found.updated_on), timeline=_timeline(found), folio=folio_display(folio_normalize(folio))
    )
    return render(request, "web/public/status.html", context)
