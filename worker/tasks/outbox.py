"""Relaying the outbox and picking up jobs lost with a worker."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from worker.jobs import jobs_recover
from worker.outbox import outbox_relay


@shared_task(soft_time_limit=50, time_limit=60, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def outbox_relay_task() -> int:
    """Publish pending outbox rows. Safe to run twice: a row is published under a row lock, once."""
    return outbox_relay()


@shared_task(
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def jobs_recover_task() -> dict[str, int]:
    """Queue again jobs whose worker went away (no progress for HARVEST_JOB_STALE_SECONDS)."""
    return jobs_recover()
