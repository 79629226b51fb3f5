"""Tasks that prove the worker is alive and can reach the database."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=20, time_limit=30, ignore_result=False)
def heartbeat_task() -> dict[str, int]:
    """Count the reference data the worker can see: a cheap proof that broker and database work."""
    from installations.selectors import reference_counts

    counts = reference_counts()
    logger.info("heartbeat: %s", counts)
    return counts
