"""The audit trail in the admin: administrators read it; nobody adds, edits or deletes a row."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry
from audit.receivers import AUDITED_MODELS
from audit.services import ANONYMOUS_ROLE, SYSTEM_ROLE
from installations.admin import AdministratorsReadOnly
from installations.models import UserRole


class _FixedChoicesFilter(admin.SimpleListFilter):
    """A filter with known options: Django's default would run SELECT DISTINCT over the whole trail."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ModelFilter(_FixedChoicesFilter):
    title = _("modelo")
    parameter_name = "model_label"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(label.lower(), apps.get_model(label)._meta.verbose_name) for label in AUDITED_MODELS]


class RoleFilter(_FixedChoicesFilter):
    title = _("rol")
    parameter_name = "actor_role"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [*UserRole.choices, (ANONYMOUS_ROLE, _("Portal (anónimo)")), (SYSTEM_ROLE, _("Sistema"))]


@admin.register(AuditEntry)
class AuditEntryAdmin(AdministratorsReadOnly, admin.ModelAdmin):
    list_display = ("occurred_at", "action", "model_label", "object_id", "row_count", "actor", "actor_role", "request_id")
    list_filter = ("action", ModelFilter, RoleFilter)
    list_select_related = ("actor",)
    # Exact matches only: a LIKE over the whole trail would scan every row.
    search_fields = ("=request_id", "=object_id")
    show_full_result_count = False
    ordering = ("-pk",)  # newest first along the primary key, as cheap at any depth
    actions = None
