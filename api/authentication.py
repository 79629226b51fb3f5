"""Device tokens for phones: ``Authorization: Bearer <token>``; expiring, revocable one at a time."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api.models import DeviceToken
from installations.models import User

TOKEN_PREFIX = "hv_"  # noqa: S105 -- a visible prefix, not a secret


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def device_token_issue(*, user: User, device_name: str) -> tuple[DeviceToken, str]:
    """A new token for one device; the raw value is returned only here and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    token = DeviceToken.objects.create(
        user=user,
        device_name=device_name,
        key_hash=token_hash(raw),
        expires_at=now + timedelta(days=settings.HARVEST_TOKEN_TTL_DAYS),
    )
    return token, raw


def device_token_revoke(*, token: DeviceToken) -> None:
    DeviceToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[User, DeviceToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode().lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Encabezado Authorization mal formado."))
        raw = header[1].decode(errors="replace")
        token = DeviceToken.objects.select_related("user").filter(key_hash=token_hash(raw)).first()
        now = timezone.now()
        if token is None or token.revoked_at is not None or token.expires_at <= now or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Token inválido, vencido o revocado."))
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
            DeviceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
