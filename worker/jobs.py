"""Jobs: create one per lane at a time, report progress, finish, and pick up jobs lost with a worker."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from installations.models import User
from worker.models import ACTIVE_JOB_STATES, Job, JobKind, JobState

logger = logging.getLogger(__name__)


def job_create(*, kind: JobKind, lane: str, by: User | None, parameters: dict[str, Any] | None = None) -> tuple[Job, bool]:
    """A new queued job, or the lane's job already queued or running (``created`` False)."""
    try:
        with transaction.atomic():
            job = Job.objects.create(kind=kind, lane=lane, created_by=by, parameters=parameters or {})
            return job, True
    except IntegrityError:
        active = Job.objects.filter(lane=lane, state__in=ACTIVE_JOB_STATES).first()
        if active is None:  # it finished between our insert and this read: try once more
            return job_create(kind=kind, lane=lane, by=by, parameters=parameters)
        return active, False


def job_start(job_id: uuid.UUID | str, *, total: int) -> Job | None:
    """Mark a job running with ``total`` steps; None if it already finished (a duplicate delivery)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_JOB_STATES:
            return None
        now = timezone.now()
        job.state = JobState.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.progress_total = max(total, job.progress_done)
        job.attempts += 1
        job.save(update_fields=["state", "started_at", "heartbeat_at", "progress_total", "attempts"])
        return job


def job_step_done(job_id: uuid.UUID | str, steps: int = 1) -> None:
    """Count finished steps (call once per step that really finished) and touch the heartbeat."""
    Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(
        progress_done=F("progress_done") + steps, heartbeat_at=timezone.now()
    )


def job_succeed(job_id: uuid.UUID | str, *, result: dict[str, Any]) -> bool:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_JOB_STATES:
            return False
        job.state = JobState.SUCCEEDED
        job.progress_done = job.progress_total
        job.result = result
        job.finished_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["state", "progress_done", "result", "finished_at", "heartbeat_at"])
        return True


def job_fail(job_id: uuid.UUID | str, *, error: str) -> bool:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_JOB_STATES:
            return False
        job.state = JobState.FAILED
        job.error = error[:2000]
        job.finished_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["state", "error", "finished_at", "heartbeat_at"])
        return True


def jobs_stale(*, now: Any = None) -> list[Job]:
    """Queued or running jobs with no sign of life for HARVEST_JOB_STALE_SECONDS: lost with a worker."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.HARVEST_JOB_STALE_SECONDS)
    return list(Job.objects.filter(state__in=ACTIVE_JOB_STATES, heartbeat_at__lt=cutoff))


def job_touch(job_id: uuid.UUID | str) -> None:
    Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())


# The task that (re)starts each kind of job from its id; rerunning it continues where the job got to.
JOB_TASKS: dict[str, str] = {
    JobKind.COVERAGE_FULL: "worker.tasks.coverage.coverage_compile_task",
    JobKind.COVERAGE_INCREMENTAL: "worker.tasks.coverage.coverage_compile_task",
    JobKind.LEGACY_IMPORT: "worker.tasks.imports.legacy_import_task",
    JobKind.EXPORT: "worker.tasks.exports.legacy_export_task",
}
# The queue of each kind's task (the statistics queue unless named here). Spreadsheets in and out
# share the imports queue: long file work that must not hold up the statistics.
JOB_QUEUES: dict[str, str] = {JobKind.LEGACY_IMPORT: "imports", JobKind.EXPORT: "imports"}
MAX_JOB_ATTEMPTS = 5


def job_enqueue(job: Job) -> None:
    """Queue the job's task through the outbox, in the caller's transaction."""
    from worker.outbox import outbox_enqueue
    from worker.queues import Queue

    outbox_enqueue(JOB_TASKS[job.kind], [str(job.pk)], queue=Queue(JOB_QUEUES.get(job.kind, Queue.STATISTICS)))


def jobs_recover() -> dict[str, int]:
    """Queue again every stale job (at most MAX_JOB_ATTEMPTS times); fail those that used them up."""
    requeued = failed = 0
    for job in jobs_stale():
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            if locked.state not in ACTIVE_JOB_STATES or locked.heartbeat_at != job.heartbeat_at:
                continue  # it moved on meanwhile
            if locked.attempts >= MAX_JOB_ATTEMPTS:
                job_fail(locked.pk, error=f"Se interrumpió {locked.attempts} veces; se dejó de reintentar.")
                failed += 1
                continue
            locked.heartbeat_at = timezone.now()
            locked.save(update_fields=["heartbeat_at"])
            job_enqueue(locked)
            requeued += 1
    if requeued or failed:
        logger.warning("jobs: %s stale jobs queued again, %s given up", requeued, failed)
    return {"requeued": requeued, "failed": failed}
