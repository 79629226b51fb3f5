"""The export access log: one append-only row per export of personal data (reliability.md D3, H5)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ExportLogError(Exception):
    """Export log rows are written once and never changed or removed through the ORM."""

    def __init__(self) -> None:
        super().__init__("export log entries are append-only: they cannot be updated or deleted")


class ExportLogQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ExportLogError()

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[ExportLog]:
        if kwargs.get("update_conflicts"):  # an upsert would overwrite existing rows
            raise ExportLogError()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise ExportLogError()

    def delete(self) -> NoReturn:
        raise ExportLogError()


class ExportKind(models.TextChoices):
    INSTALLATIONS = "installations", _("Instalaciones")
    APPLICATIONS = "applications", _("Solicitudes")
    PADRON = "padron", _("Padrón de personas beneficiarias")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ExportChannel(models.TextChoices):
    API = "api", _("API")
    ADMIN = "admin", _("Administración")
    WEB = "web", _("Tablero")


class ExportLog(models.Model):
    """One export of program records: who took it, as which role, when (UTC), of what, and why.

    ``filters`` holds the query as asked (codes, statuses, dates; a CURP searched for is stored
    masked), ``columns`` the header row as delivered and ``row_count`` the rows in the file. The
    data itself is never stored here.
    """

    Kind = ExportKind
    Format = ExportFormat
    Channel = ExportChannel

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,  # whoever exported stays on file: deactivate, don't delete
        related_name="+",
        verbose_name=_("exportado por"),
    )
    role = models.CharField(_("rol"), max_length=20)
    occurred_at = models.DateTimeField(_("fecha y hora (UTC)"))
    kind = models.CharField(_("registros"), max_length=15, choices=Kind)
    format = models.CharField(_("formato"), max_length=4, choices=Format)
    channel = models.CharField(_("origen"), max_length=5, choices=Channel, default=Channel.API)
    filters = models.JSONField(_("filtros"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    row_count = models.PositiveIntegerField(_("filas"))
    columns = models.JSONField(_("columnas"), default=list, encoder=DjangoJSONEncoder)
    full_personal_data = models.BooleanField(_("datos personales completos"), default=False)
    justification = models.TextField(_("justificación"), blank=True)
    request_id = models.CharField(_("id de la petición"), max_length=64, blank=True)

    objects = ExportLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("exportación registrada")
        verbose_name_plural = _("bitácora de exportaciones")
        ordering = ["-occurred_at", "-pk"]
        base_manager_name = "objects"  # so that no manager of this model can update or delete rows
        permissions = [
            ("export_full_pii", "Puede exportar datos personales completos (CURP, teléfono, domicilio)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ExportKind.values), name="exportlog_kind_valid"),
            models.CheckConstraint(condition=Q(format__in=ExportFormat.values), name="exportlog_format_valid"),
            models.CheckConstraint(condition=Q(channel__in=ExportChannel.values), name="exportlog_channel_valid"),
            # Full personal data is only ever exported with a typed reason (reliability.md D2).
            models.CheckConstraint(
                condition=Q(full_personal_data=False) | ~Q(justification=""), name="exportlog_full_data_justified"
            ),
        ]
        indexes = [models.Index(fields=["occurred_at"], name="exportlog_occurred_at_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.format} · {self.row_count} · {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise ExportLogError()
        super().save(**{**kwargs, "force_insert": True})

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ExportLogError()
