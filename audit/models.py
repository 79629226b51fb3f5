"""The audit trail: one append-only row per write to a household's records (reliability.md G8)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AuditTrailError(Exception):
    """Audit rows are written once and never changed or removed through the ORM."""

    def __init__(self) -> None:
        super().__init__("audit entries are append-only: they cannot be updated or deleted")


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditTrailError()

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[AuditEntry]:
        if kwargs.get("update_conflicts"):  # an upsert would overwrite existing rows
            raise AuditTrailError()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AuditTrailError()

    def delete(self) -> NoReturn:
        raise AuditTrailError()


class AuditAction(models.TextChoices):
    CREATE = "create", _("Alta")
    UPDATE = "update", _("Modificación")
    DELETE = "delete", _("Baja")
    # Writes that bypass Model.save: QuerySet.update (one row per record) and imports (one row per model).
    BULK_CREATE = "bulk_create", _("Alta masiva")
    BULK_UPDATE = "bulk_update", _("Modificación masiva")
    BULK_DELETE = "bulk_delete", _("Baja masiva")


class AuditEntry(models.Model):
    """One write to a program record: what changed, who did it, as which role, when (UTC) and from where.

    ``changes`` maps each field to ``{"old": …, "new": …}``; CURP, phone, e-mail and the verification
    code's hash are recorded as ``{"redacted": true}``, never with their values. A bulk row stands for
    ``row_count`` records and has no object id.
    """

    Action = AuditAction

    model_label = models.CharField(_("modelo"), max_length=100)
    object_id = models.CharField(_("registro"), max_length=64, blank=True)
    action = models.CharField(_("acción"), max_length=12, choices=Action)
    row_count = models.PositiveIntegerField(_("registros"), default=1)
    changes = models.JSONField(_("cambios"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # whoever changed records stays on file: deactivate, don't delete
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("realizado por"),
    )
    actor_role = models.CharField(_("rol"), max_length=20, blank=True, help_text=_("anonymous: portal; system: tarea o comando."))
    occurred_at = models.DateTimeField(_("fecha y hora (UTC)"))
    request_id = models.CharField(_("id de la petición"), max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(_("dirección IP"), null=True, blank=True)
    # The DeviceToken's id as a plain number: revoking or deleting a token must not touch the trail.
    device_token_id = models.PositiveBigIntegerField(_("dispositivo (token)"), null=True, blank=True)
    note = models.TextField(_("nota"), blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("entrada de bitácora")
        verbose_name_plural = _("bitácora de cambios")
        ordering = ["-occurred_at", "-pk"]
        base_manager_name = "objects"  # so that no manager of this model can update or delete rows
        constraints = [
            models.CheckConstraint(condition=Q(action__in=AuditAction.values), name="auditentry_action_valid"),
            models.CheckConstraint(condition=Q(row_count__gte=1), name="auditentry_row_count_positive"),
        ]
        indexes = [
            models.Index(fields=["model_label", "object_id"], name="auditentry_record_idx"),
            models.Index(fields=["request_id"], name="auditentry_request_idx"),
            # Incremental coverage refreshes look for deletions and moves since the last snapshot.
            models.Index(fields=["occurred_at"], name="auditentry_occurred_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.model_label} {self.object_id} · {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AuditTrailError()
        super().save(**{**kwargs, "force_insert": True})

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailError()
