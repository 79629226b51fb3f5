"""What the API keeps for itself: device tokens, idempotency records and rate counters."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DeviceToken(models.Model):
    """A phone's sign-in: expires, and is revoked one device at a time. Only its hash is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_tokens", verbose_name=_("usuario")
    )
    device_name = models.CharField(_("dispositivo"), max_length=80)
    key_hash = models.CharField(_("huella del token"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    expires_at = models.DateTimeField(_("vence"))
    last_used_at = models.DateTimeField(_("último uso"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revocado"), null=True, blank=True)

    class Meta:
        verbose_name = _("token de dispositivo")
        verbose_name_plural = _("tokens de dispositivo")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="devicetoken_expires_after_creation")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.device_name}"


class IdempotencyRecord(models.Model):
    """The first answer to a create sent with an Idempotency-Key, replayed to every repeat of it."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("En curso")
        COMPLETED = "completed", _("Terminada")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("usuario"))
    key = models.CharField(_("clave"), max_length=255)
    fingerprint = models.CharField(_("huella de la petición"), max_length=64)
    state = models.CharField(_("estado"), max_length=15, choices=State, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(_("código de respuesta"), null=True, blank=True)
    response_body = models.JSONField(_("respuesta"), null=True, blank=True)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)

    class Meta:
        verbose_name = _("registro de idempotencia")
        verbose_name_plural = _("registros de idempotencia")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user"),
            models.CheckConstraint(condition=Q(state__in=["in_progress", "completed"]), name="idempotency_state_valid"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class RateCounter(models.Model):
    """A counter with an expiry, for throttles on the embedded default (Redis does this in production)."""

    key = models.CharField(_("clave"), max_length=128, primary_key=True)
    count = models.IntegerField(_("cuenta"), default=0)
    expires_at = models.DateTimeField(_("vence"))

    class Meta:
        verbose_name = _("contador")
        verbose_name_plural = _("contadores")
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
