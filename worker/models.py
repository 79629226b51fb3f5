"""What the workers keep in the database: jobs people follow, the outbox of tasks to publish, failures.

The database, not the broker, is the source of truth for background work: a job row says what was
asked and how far it got; an outbox row is written in the same transaction as the change that needs
work done, and is published when the broker can take it (reliability.md F4). A task that fails for
good leaves a ``FailedTask`` row (F9).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class JobKind(models.TextChoices):
    COVERAGE_FULL = "coverage_full", _("Compilación completa de cobertura")
    COVERAGE_INCREMENTAL = "coverage_incremental", _("Actualización incremental de cobertura")
    LEGACY_IMPORT = "legacy_import", _("Importación de hoja legada")
    EXPORT = "export", _("Exportación de registros")


class JobState(models.TextChoices):
    QUEUED = "queued", _("En cola")
    RUNNING = "running", _("En proceso")
    SUCCEEDED = "succeeded", _("Terminado")
    FAILED = "failed", _("Falló")


ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)
FINISHED_JOB_STATES = (JobState.SUCCEEDED, JobState.FAILED)


class Job(models.Model):
    """A piece of background work somebody (or the schedule) asked for, with its progress."""

    Kind = JobKind
    State = JobState

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("tipo"), max_length=30, choices=Kind)
    # Jobs in one lane exclude each other: at most one queued or running at a time (constraint below).
    lane = models.CharField(_("carril"), max_length=20)
    state = models.CharField(_("estado"), max_length=10, choices=State, default=State.QUEUED)
    progress_done = models.PositiveIntegerField(_("pasos terminados"), default=0)
    progress_total = models.PositiveIntegerField(_("pasos en total"), default=0)
    parameters = models.JSONField(_("parámetros"), default=dict, blank=True)
    result = models.JSONField(_("resultado"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("intentos"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("solicitado por"),
    )
    created_at = models.DateTimeField(_("solicitado"), auto_now_add=True)
    started_at = models.DateTimeField(_("iniciado"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminado"), null=True, blank=True)
    # Touched at every step; a running job whose heartbeat is old was lost with its worker.
    heartbeat_at = models.DateTimeField(_("último avance"), auto_now_add=True)

    class Meta:
        verbose_name = _("trabajo en segundo plano")
        verbose_name_plural = _("trabajos en segundo plano")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["lane"], condition=Q(state__in=["queued", "running"]), name="job_one_active_per_lane"
            ),
            models.CheckConstraint(condition=Q(progress_done__lte=models.F("progress_total")), name="job_progress_within_total"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.get_state_display()})"


class OutboxMessage(models.Model):
    """A task to publish, written in the transaction of the change that calls for it.

    ``args`` hold ids only (F2). A relay publishes pending rows oldest first and stamps
    ``published_at``; publishing twice is harmless because every task it names is idempotent.
    """

    task_name = models.CharField(_("tarea"), max_length=200)
    args = models.JSONField(_("argumentos"), default=list, blank=True)
    queue = models.CharField(_("cola"), max_length=30)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    published_at = models.DateTimeField(_("publicado"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("intentos de publicación"), default=0)
    last_error = models.CharField(_("último error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("mensaje pendiente de publicar")
        verbose_name_plural = _("mensajes pendientes de publicar")
        indexes = [models.Index(fields=["created_at"], condition=Q(published_at=None), name="outbox_pending_idx")]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"


class FailedTask(models.Model):
    """A task that failed for good (after its last retry): kept for people to look at and rerun."""

    task_name = models.CharField(_("tarea"), max_length=200)
    task_id = models.CharField(_("id de la tarea"), max_length=255)
    args = models.JSONField(_("argumentos"), default=list, blank=True)
    exception = models.TextField(_("excepción"))
    failed_at = models.DateTimeField(_("falló el"), auto_now_add=True)

    class Meta:
        verbose_name = _("tarea fallida")
        verbose_name_plural = _("tareas fallidas")
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id}"
