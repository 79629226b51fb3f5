"""The household side of the API, anonymous: self-registration and the status lookup.

Both endpoints take JSON ``POST`` only (a folio in a query string would reach access logs), set no
cookie (no authentication, so DRF neither reads the session nor enforces CSRF) and answer with
``Cache-Control: no-store``. Throttles are atomic counters keyed by the client's address
(``api.counters``), counted before the work they guard, so parallel requests cannot all slip under
the limit (reliability.md A2–A9).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.counters import client_ip, counter_hit, counter_hit_reading, counter_seconds_left
from api.serializers import APPLICANT_FIELDS, EnumField, ErrorSerializer
from installations.identifiers import validate_curp
from installations.lifecycle import Status
from installations.lookup import PublicStatus, application_status_lookup, folio_fingerprint, program_year_open
from installations.models import ApplicantSex, Application, Colonia, DwellingWaterSupply, RoofMaterial
from installations.services import application_register

logger = logging.getLogger("harvest.public")
security_logger = logging.getLogger("harvest.security")

# Self-registrations per client address and window; HARVEST_REGISTRATIONS_PER_CLIENT and
# HARVEST_REGISTRATION_WINDOW_S in settings override them.
REGISTRATIONS_PER_CLIENT = 20
REGISTRATION_WINDOW_S = 3600


# --- Serializers ------------------------------------------------------------------------------------
class RegistrationSerializer(serializers.Serializer):
    """A household's own request: who applies, the home, and the consent to the privacy notice."""

    DWELLING_FIELDS = (
        "colonia",
        "street_address",
        "postal_code",
        "latitude",
        "longitude",
        "occupants",
        "water_supply",
        "tandeo_days_per_week",
        "roof_material",
        "roof_area_m2",
        "existing_storage_litres",
    )

    program_year = serializers.IntegerField(
        required=False, help_text=_("Solo el año abierto al registro (el más reciente); si falta, ese mismo.")
    )
    privacy_consent = serializers.BooleanField(help_text=_("Acepta el aviso de privacidad; debe ser verdadero."))
    first_name = serializers.CharField(max_length=80)
    first_surname = serializers.CharField(max_length=80)
    second_surname = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    curp = serializers.CharField(max_length=18)
    sex = EnumField(ApplicantSex)
    birth_date = serializers.DateField()
    phone = serializers.CharField(max_length=15, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    is_household_head = serializers.BooleanField(default=False)
    woman_headed_household = serializers.BooleanField(default=False)
    single_mother = serializers.BooleanField(default=False)
    older_adult = serializers.BooleanField(default=False)
    disability = serializers.BooleanField(default=False)
    indigenous = serializers.BooleanField(default=False)
    colonia = serializers.PrimaryKeyRelatedField(queryset=Colonia.objects.all())
    street_address = serializers.CharField(max_length=200)
    postal_code = serializers.CharField(max_length=5, required=False, allow_blank=True, default="")
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True, default=None)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True, default=None)
    occupants = serializers.IntegerField()
    water_supply = EnumField(DwellingWaterSupply)
    tandeo_days_per_week = serializers.IntegerField(required=False, allow_null=True, default=None)
    roof_material = EnumField(RoofMaterial)
    roof_area_m2 = serializers.DecimalField(max_digits=7, decimal_places=2)
    existing_storage_litres = serializers.IntegerField(required=False, default=0)

    def validate_curp(self, value: str) -> str:
        curp = value.strip().upper()
        validate_curp(curp)
        return curp

    def validate_privacy_consent(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(_("Debe aceptar el aviso de privacidad para registrarse."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        open_year = program_year_open()
        if open_year is None:
            raise serializers.ValidationError({"program_year": _("No hay un año del programa abierto al registro.")})
        if attrs.get("program_year", open_year.year) != open_year.year:
            raise serializers.ValidationError(
                {"program_year": _("El registro solo está abierto para el programa %(year)s.") % {"year": open_year.year}}
            )
        return {**attrs, "program_year": open_year}

    def applicant(self) -> dict[str, Any]:
        return {name: self.validated_data[name] for name in APPLICANT_FIELDS}

    def dwelling(self) -> dict[str, Any]:
        return {name: self.validated_data[name] for name in self.DWELLING_FIELDS}


class RegistrationReceiptSerializer(serializers.Serializer):
    """What the household keeps: its folio and the verification code, shown only this once."""

    folio = serializers.CharField(help_text=_("Folio, como se imprime: XXXX-XXXX-XXXX."))
    verification_code = serializers.CharField(help_text=_("Seis dígitos; se piden junto con el folio para consultar el estado."))


class StatusLookupSerializer(serializers.Serializer):
    # Shapes only (the folio's alphabet and check symbol are public): a typo is a 400, not a guess.
    folio = serializers.RegexField(
        r"^[0-9A-Za-z \-_.·]{1,40}$", help_text=_("En mayúsculas o minúsculas, con o sin guiones o espacios.")
    )
    code = serializers.RegexField(r"^[0-9]{6}$", help_text=_("El código de verificación del comprobante."))


class PublicStatusStepSerializer(serializers.Serializer):
    status = EnumField(Status)
    status_label = serializers.CharField()
    on = serializers.DateField(help_text=_("Día del cambio, hora de la Ciudad de México."))


class PublicStatusSerializer(serializers.Serializer):
    """A request's status as its household sees it; nothing personal."""

    status = EnumField(Status)
    status_label = serializers.CharField(help_text=_("En el idioma de la petición (español si no se indica)."))
    updated_on = serializers.DateField(help_text=_("Día del último cambio de estado, hora de la Ciudad de México."))
    next_step = serializers.CharField()
    alcaldia = serializers.CharField()
    history = PublicStatusStepSerializer(many=True)


def public_status_body(found: PublicStatus) -> dict[str, object]:
    """What PublicStatusSerializer would render, built directly: the lookup is the API's hottest path
    and DRF's field machinery cost more than the rest of it (tests compare the two)."""
    return {
        "status": found.status,
        "status_label": found.status_label,
        "updated_on": found.updated_on.isoformat(),
        "next_step": found.next_step,
        "alcaldia": found.alcaldia,
        "history": [
            {"status": step.status, "status_label": step.status_label, "on": step.on.isoformat()} for step in found.history
        ],
    }


# --- Throttles ----------------------------------------------------------------------------------------
def _refuse(key: str) -> Throttled:
    return Throttled(wait=max(counter_seconds_left(key), 1))


def registration_wait_s(client: str) -> int:
    """Count one self-registration attempt from ``client`` (every attempt: refusals tell about CURPs);
    the seconds to wait when over the limit, else 0. The API and the portal page share the counter."""
    key = f"register:client:{client}"
    window_s = getattr(settings, "HARVEST_REGISTRATION_WINDOW_S", REGISTRATION_WINDOW_S)
    limit = getattr(settings, "HARVEST_REGISTRATIONS_PER_CLIENT", REGISTRATIONS_PER_CLIENT)
    if counter_hit(key, window_seconds=window_s) > limit:
        return max(counter_seconds_left(key), 1)
    return 0


class LookupGuard:
    """The status lookup's two throttles (reliability.md A4, A5).

    Per client: each lookup takes a slot before it is checked and a success gives it back, so only
    failures stay counted and twenty parallel guesses cannot all get past a limit of five. Per folio:
    enough failures from any addresses lock the folio for everyone, for a while, via a second counter.
    """

    def __init__(self, *, client: str, folio: str) -> None:
        self.client = client
        self.folio = folio  # the fingerprint, never the folio itself
        self.client_key = f"lookup:client:{client}"
        self.failures_key = f"lookup:folio-failures:{folio}"
        self.lock_key = f"lookup:folio-lock:{folio}"

    def admit(self) -> None:
        tries, locked = counter_hit_reading(
            self.client_key, window_seconds=settings.HARVEST_LOOKUP_CLIENT_WINDOW_S, read=self.lock_key
        )
        if tries > settings.HARVEST_LOOKUP_FAILURES_PER_CLIENT:
            self._log("refused, too many failures from this client")
            raise _refuse(self.client_key)
        if locked > 0:
            self._give_back()  # no code was tried
            self._log("refused, folio locked")
            raise _refuse(self.lock_key)

    def succeeded(self) -> None:
        self._give_back()
        self._log("found")

    def failed(self) -> None:
        failures = counter_hit(self.failures_key, window_seconds=settings.HARVEST_LOOKUP_FOLIO_WINDOW_S)
        self._log("not found")
        if failures < settings.HARVEST_LOOKUP_FAILURES_PER_FOLIO:
            return
        lock_s = settings.HARVEST_LOOKUP_FOLIO_LOCK_S
        if counter_hit(self.lock_key, window_seconds=lock_s) == 1:
            security_logger.warning(
                "status lookup: folio %s locked for %s s after %s failed codes (last from %s)",
                self.folio,
                lock_s,
                failures,
                self.client,
            )

    def _give_back(self) -> None:
        counter_hit(self.client_key, window_seconds=settings.HARVEST_LOOKUP_CLIENT_WINDOW_S, amount=-1)

    def _log(self, outcome: str) -> None:
        logger.info("status lookup %s: folio %s, client %s", outcome, self.folio, self.client)


# --- Views --------------------------------------------------------------------------------------------
class PublicView(APIView):
    """Anonymous, JSON in and out, POST only, never stored by a cache, no cookie."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # the counters below, not DRF's read-modify-write throttles
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    http_method_names = ["post"]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


NO_STORE = OpenApiParameter(
    "Cache-Control", str, OpenApiParameter.HEADER, response=True, description=_("Siempre `no-store`."), required=True
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[429], description=_("Segundos hasta que se admita un nuevo intento.")
)
ERROR_405 = OpenApiResponse(ErrorSerializer, description=_("Solo se acepta POST."))
ERROR_415 = OpenApiResponse(ErrorSerializer, description=_("El cuerpo debe ser JSON."))


class ApplicationRegisterView(PublicView):
    @extend_schema(
        operation_id="public_applications_create",
        summary=_("Registrar una solicitud (autorregistro en el portal)"),
        description=_(
            "Sin cuenta. Responde el folio y el código de verificación, que solo se muestran esta vez. "
            "El registro está abierto solo para el año más reciente del programa."
        ),
        request=RegistrationSerializer,
        responses={
            201: RegistrationReceiptSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description=_(
                    "Datos inválidos o solicitud no admitida (colonia fuera de la lista del año, solicitud abierta "
                    "con la CURP, sin aceptar el aviso de privacidad); `fields` indica el campo."
                ),
            ),
            405: ERROR_405,
            415: ERROR_415,
            429: OpenApiResponse(ErrorSerializer, description=_("Demasiados registros desde esta dirección; vea Retry-After.")),
        },
        parameters=[NO_STORE, RETRY_AFTER],
        auth=[],
        tags=["public"],
    )
    def post(self, request: Request) -> Response:
        wait_s = registration_wait_s(client_ip(request))
        if wait_s:
            raise Throttled(wait=wait_s)
        serializer = RegistrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        application, code = application_register(
            program_year=serializer.validated_data["program_year"],
            applicant=serializer.applicant(),
            dwelling=serializer.dwelling(),
            channel=Application.Channel.PORTAL,
            privacy_consent_at=timezone.now(),
        )
        logger.info("portal registration: folio %s", folio_fingerprint(application.folio))
        receipt = {"folio": application.folio_display, "verification_code": code}
        return Response(RegistrationReceiptSerializer(receipt).data, status=201)


class StatusLookupView(PublicView):
    @extend_schema(
        operation_id="public_status_lookup",
        summary=_("Estado de una solicitud, por folio y código de verificación"),
        description=_(
            "Sin cuenta. Un código equivocado y un folio inexistente reciben el mismo 404. Tras varios fallos "
            "desde una dirección, toda consulta desde ella responde 429 por un tiempo; tras varios fallos con "
            "un folio, ese folio responde 429 a todos por un tiempo (vea Retry-After)."
        ),
        request=StatusLookupSerializer,
        responses={
            200: PublicStatusSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description=_("Falta el folio o el código, o no tienen la forma de un folio y de seis dígitos.")
            ),
            404: OpenApiResponse(ErrorSerializer, description=_("No hay una solicitud con este folio y código.")),
            405: ERROR_405,
            415: ERROR_415,
            429: OpenApiResponse(
                ErrorSerializer,
                description=_("Demasiadas consultas fallidas desde esta dirección o con este folio; vea Retry-After."),
            ),
        },
        parameters=[NO_STORE, RETRY_AFTER],
        auth=[],
        tags=["public"],
    )
    def post(self, request: Request) -> Response:
        serializer = StatusLookupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        folio, code = serializer.validated_data["folio"], serializer.validated_data["code"]
        guard = LookupGuard(client=client_ip(request), folio=folio_fingerprint(folio))
        guard.admit()
        found = application_status_lookup(folio, code)
        if found is None:
            guard.failed()
            raise NotFound()
        guard.succeeded()
        return Response(public_status_body(found))
