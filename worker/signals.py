"""Worker-wide hooks: record tasks that failed for good, and catch up on start."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import task_failure, worker_ready

logger = logging.getLogger("worker.alerts")


@task_failure.connect
def record_final_failure(
    sender: Any = None, task_id: str = "", exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    """A task failed for good (Celery sends this after the last retry): keep a FailedTask row and alert."""
    from worker.models import FailedTask

    name = getattr(sender, "name", str(sender))
    FailedTask.objects.create(task_name=name, task_id=task_id or "", args=list(args or []), exception=repr(exception)[:4000])
    logger.error("task %s (%s) failed for good: %r", name, task_id, exception)


@worker_ready.connect
def catch_up(sender: Any = None, **_: Any) -> None:
    """On start, publish what piled up in the outbox and queue again jobs lost with a previous worker."""
    from worker.tasks.outbox import jobs_recover_task, outbox_relay_task

    try:
        outbox_relay_task.apply_async()
        jobs_recover_task.apply_async()
    except Exception:  # a start-up nicety must never stop the worker
        logger.warning("worker start: could not queue the catch-up tasks", exc_info=True)
