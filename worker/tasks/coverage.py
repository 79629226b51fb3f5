"""Coverage compiles on the workers: begin, fan the alcaldías out as a chord, merge; and the refresh.

Time limits stay below HARVEST_JOB_STALE_SECONDS (300 s), so a job is never taken for lost while
one of its steps may still be running. Every task takes ids only and is safe to run twice
(coverage/services.py says why), so all run with ``acks_late`` and ``reject_on_worker_lost``: a
worker killed mid-task leaves its message to be delivered again, and a job lost anyway is queued
again by ``jobs_recover_task``.
"""

from __future__ import annotations

import logging

from celery import chord, shared_task

from coverage.services import (
    IncompleteSnapshotError,
    coverage_compile_begin,
    coverage_merge,
    coverage_part_compute,
    coverage_refresh_if_changed,
)
from worker.tasks.options import SAFE_TO_RERUN, TRANSIENT

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=120, time_limit=150, ignore_result=True, **SAFE_TO_RERUN)
def coverage_compile_task(job_id: str) -> None:
    """Begin (or resume) the job's compile and fan the missing alcaldías out over the workers."""
    plan = coverage_compile_begin(job_id)
    if plan is None:
        logger.info("coverage: job %s already finished", job_id)
        return
    merge = coverage_merge_task.si(plan.snapshot_id)
    if not plan.alcaldias_to_compute:
        merge.apply_async()
        return
    chord(coverage_part_task.si(plan.snapshot_id, a) for a in plan.alcaldias_to_compute)(merge)


@shared_task(soft_time_limit=240, time_limit=270, ignore_result=False, **SAFE_TO_RERUN)
def coverage_part_task(snapshot_id: int, alcaldia_id: str) -> bool:
    """One alcaldía's grouped counts (the chord's result is only whether this delivery stored them)."""
    return coverage_part_compute(snapshot_id, alcaldia_id)


# The merge also waits (by retrying) for parts still being stored by another delivery.
@shared_task(
    soft_time_limit=240,
    time_limit=270,
    ignore_result=True,
    **(SAFE_TO_RERUN | {"autoretry_for": (*TRANSIENT, IncompleteSnapshotError), "max_retries": 5}),
)
def coverage_merge_task(snapshot_id: int) -> None:
    coverage_merge(snapshot_id)


@shared_task(soft_time_limit=60, time_limit=90, ignore_result=True, **SAFE_TO_RERUN)
def coverage_refresh_task() -> None:
    """Beat, every few minutes: an incremental compile if data changed since the latest snapshot."""
    job = coverage_refresh_if_changed()
    if job is not None:
        logger.info("coverage: refresh queued as job %s", job.pk)
