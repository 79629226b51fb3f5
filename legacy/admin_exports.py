"""The export log in the admin: administrators read it; nobody adds, edits or deletes a row.

Imported from ``LegacyConfig.ready()`` (admin autodiscovery only imports ``legacy.admin``).
"""

from __future__ import annotations

from django.contrib import admin

from installations.admin import AdministratorsReadOnly
from legacy.models import ExportLog


@admin.register(ExportLog)
class ExportLogAdmin(AdministratorsReadOnly, admin.ModelAdmin):
    list_display = ("occurred_at", "user", "role", "kind", "format", "channel", "row_count", "full_personal_data")
    list_filter = ("kind", "format", "channel", "full_personal_data")
    list_select_related = ("user",)
    search_fields = ("=request_id", "=user__username")
    readonly_fields = (
        "occurred_at",
        "user",
        "role",
        "kind",
        "format",
        "channel",
        "filters",
        "row_count",
        "columns",
        "full_personal_data",
        "justification",
        "request_id",
    )
    show_full_result_count = False
    ordering = ("-pk",)  # newest first along the primary key
    actions = None
