"""Background work in the admin: jobs with their progress, the outbox, and tasks that failed for good."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from installations.admin import ReadOnlyAccess
from worker.models import FailedTask, Job, OutboxMessage


@admin.register(Job)
class JobAdmin(ReadOnlyAccess, admin.ModelAdmin):
    list_display = ("created_at", "kind", "state", "progress", "created_by", "started_at", "finished_at", "attempts")
    list_filter = ("kind", "state")
    readonly_fields = [f.name for f in Job._meta.fields]
    date_hierarchy = "created_at"

    @admin.display(description=_("avance"))
    def progress(self, job: Job) -> str:
        if not job.progress_total:
            return "—"
        return f"{job.progress_done} / {job.progress_total} ({round(100 * job.progress_done / job.progress_total)} %)"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAccess, admin.ModelAdmin):
    list_display = ("created_at", "task_name", "queue", "published_at", "attempts", "last_error")
    list_filter = ("queue", ("published_at", admin.EmptyFieldListFilter))
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]


@admin.register(FailedTask)
class FailedTaskAdmin(ReadOnlyAccess, admin.ModelAdmin):
    list_display = ("failed_at", "task_name", "task_id", "exception")
    readonly_fields = [f.name for f in FailedTask._meta.fields]
