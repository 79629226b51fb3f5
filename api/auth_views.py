"""Sign-in for phones: a device token per phone, listed and revoked one device at a time (reliability.md B7, B9).

``POST auth/token/`` trades a user name and password for a token. Unknown users, wrong passwords and
inactive accounts get the same answer. Failures are counted per user name and per client address;
after ``HARVEST_LOGIN_FAILURES`` of either within ``HARVEST_LOGIN_WINDOW_S`` every attempt answers 429,
even with the right password, until the window ends.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import DeviceTokenAuthentication, device_token_issue, device_token_revoke
from api.counters import client_ip
from api.models import DeviceToken
from api.signin import signin_give_back, signin_keys, signin_reserve
from installations.models import User


# --- Errors -----------------------------------------------------------------------------------------
class InvalidCredentials(exceptions.APIException):
    """One answer for an unknown user, a wrong password and an inactive account, so none can be told apart."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("Usuario o contraseña incorrectos.")
    default_code = "invalid_credentials"


class LoginThrottled(exceptions.Throttled):
    default_detail = _("Demasiados intentos fallidos de inicio de sesión. Intente de nuevo más tarde.")

    def __init__(self, *, wait_seconds: int) -> None:
        super().__init__()  # no wait here: DRF would append an English sentence to the detail
        self.wait = max(wait_seconds, 1)  # DRF's handler turns this into Retry-After


# --- Sign-in ----------------------------------------------------------------------------------------
def login_credentials_check(*, request: Request, username: str, password: str) -> User:
    """The active user these credentials belong to; raises InvalidCredentials or LoginThrottled.

    Each attempt first reserves a place in both counters, and only then checks the password, so
    parallel attempts cannot all pass a read-then-check: at most HARVEST_LOGIN_FAILURES of them get
    past the reservation. A success or a refused attempt hands its place back; a failure keeps it.
    """
    keys = signin_keys(username=username, ip=client_ip(request))
    wait_seconds = signin_reserve(keys)
    if wait_seconds is not None:
        raise LoginThrottled(wait_seconds=wait_seconds)
    # ModelBackend hashes the password once for unknown users too, and refuses inactive ones
    # after checking it, so all three failures take the same path and time.
    user = authenticate(request._request, username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    signin_give_back(keys)
    return user


class TokenCreateSerializer(serializers.Serializer):
    username = serializers.CharField(label=_("usuario"), max_length=150)
    password = serializers.CharField(
        label=_("contraseña"), max_length=128, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    device_name = serializers.CharField(label=_("dispositivo"), max_length=80)


class TokenUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["username", "role"]
        read_only_fields = fields


class TokenIssuedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_("El token; se muestra solo esta vez. Envíelo como «Authorization: Bearer …»."))
    expires_at = serializers.DateTimeField()
    device_id = serializers.IntegerField()
    user = TokenUserSerializer()


class AuthErrorSerializer(serializers.Serializer):
    """The API's one error shape (api/exceptions.py)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


UNAUTHENTICATED = OpenApiResponse(AuthErrorSerializer, description=_("Sin token, o token inválido, vencido o revocado."))


class NoStoreMixin:
    """Answers about credentials are never kept by a browser, proxy or phone cache."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Cache-Control"] = "no-store"
        return response


class TokenView(NoStoreMixin, APIView):
    """``POST``: sign in and get a token for this device. ``DELETE``: sign this device out."""

    def _signing_in(self) -> bool:
        request = getattr(self, "request", None)  # None while the OpenAPI generator builds its mock request
        return request is not None and request.method == "POST"

    def get_authenticators(self) -> list[BaseAuthentication]:
        # Signing in needs no credentials but the body's; signing out needs the device token itself.
        return [] if self._signing_in() else [DeviceTokenAuthentication()]

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self._signing_in() else [IsAuthenticated()]

    @extend_schema(
        summary=_("Iniciar sesión en un dispositivo"),
        description=_(
            "Entrega un token para este dispositivo; se muestra solo en esta respuesta. Tras varios intentos fallidos "
            "para un usuario o desde una dirección (5 en 15 minutos, por omisión), responde 429 con Retry-After, "
            "aun con la contraseña correcta."
        ),
        request=TokenCreateSerializer,
        responses={
            201: TokenIssuedSerializer,
            400: OpenApiResponse(AuthErrorSerializer, description=_("Datos inválidos o usuario/contraseña incorrectos.")),
            429: OpenApiResponse(AuthErrorSerializer, description=_("Demasiados intentos fallidos; vea Retry-After.")),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = login_credentials_check(
            request=request, username=serializer.validated_data["username"], password=serializer.validated_data["password"]
        )
        token, raw = device_token_issue(user=user, device_name=serializer.validated_data["device_name"])
        body = {"token": raw, "expires_at": token.expires_at, "device_id": token.pk, "user": user}
        return Response(TokenIssuedSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Cerrar la sesión de este dispositivo"),
        description=_("Revoca el token con el que se hace esta petición; deja de funcionar de inmediato."),
        request=None,
        responses={204: None, 401: UNAUTHENTICATED},
    )
    def delete(self, request: Request) -> Response:
        device_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The caller's devices -------------------------------------------------------------------------
class DeviceTokenSerializer(serializers.ModelSerializer):
    """A device that is signed in; never the token or its hash."""

    class Meta:
        model = DeviceToken
        fields = ["id", "device_name", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


def device_token_queryset(*, user: User) -> QuerySet[DeviceToken]:
    """The user's own tokens that still work: not revoked, not expired."""
    return DeviceToken.objects.filter(user=user, revoked_at=None, expires_at__gt=timezone.now()).order_by("-created_at", "-pk")


@extend_schema_view(
    list=extend_schema(
        summary=_("Dispositivos con sesión abierta"),
        description=_("Los tokens vigentes de quien pregunta: nombre del dispositivo y fechas, nunca el token."),
        responses={200: DeviceTokenSerializer(many=True), 401: UNAUTHENTICATED},
    ),
    destroy=extend_schema(
        summary=_("Cerrar la sesión de uno de mis dispositivos"),
        description=_("Revoca el token de otro de sus dispositivos; deja de funcionar de inmediato."),
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={
            204: None,
            401: UNAUTHENTICATED,
            404: OpenApiResponse(AuthErrorSerializer, description=_("No es un dispositivo suyo o ya no está vigente.")),
        },
    ),
)
class DeviceTokenViewSet(NoStoreMixin, mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's signed-in devices; revoking one signs that phone out."""

    serializer_class = DeviceTokenSerializer
    queryset = DeviceToken.objects.none()  # the model, for the OpenAPI schema; rows come from get_queryset
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[DeviceToken]:
        return device_token_queryset(user=self.request.user)

    def perform_destroy(self, instance: DeviceToken) -> None:
        device_token_revoke(token=instance)


class DeviceTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema how phones authenticate: ``Authorization: Bearer <token>``."""

    target_class = "api.authentication.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": str(_("Token de dispositivo de POST /api/v1/auth/token/."))}
