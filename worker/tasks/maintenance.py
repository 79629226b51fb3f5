"""The daily maintenance sweep: flags overdue systems and fills the reminder outbox."""

from dataclasses import asdict

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone


@shared_task(
    # Safe to deliver twice or to rerun after a killed worker: every batch re-checks the status under
    # a lock, and reminders are unique per system and season (reliability.md F5, F6).
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,  # below the broker's visibility timeout (F8)
    autoretry_for=(OperationalError, InterfaceError),  # a lost connection or a locked database heals
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
    ignore_result=True,
)
def maintenance_sweep_task() -> dict[str, int]:
    """Run today's (Mexico City's date) maintenance sweep; returns its counts."""
    from installations.maintenance import maintenance_sweep

    return asdict(maintenance_sweep(today=timezone.localdate()))
