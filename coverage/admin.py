"""Coverage snapshots in the admin: what was compiled, when, from how many requests, and how long it took."""

from __future__ import annotations

from django.contrib import admin

from coverage.models import CoverageSnapshot
from installations.admin import ReadOnlyAccess


@admin.register(CoverageSnapshot)
class CoverageSnapshotAdmin(ReadOnlyAccess, admin.ModelAdmin):
    list_display = ("started_at", "kind", "state", "as_of", "source_rows", "duration_ms", "published_at")
    list_filter = ("kind", "state")
    readonly_fields = ("job", "kind", "state", "as_of", "watermark", "base", "parameters", "source_rows", "started_at",
                       "published_at", "duration_ms")  # fmt: skip
