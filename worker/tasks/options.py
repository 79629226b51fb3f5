"""Celery options shared by the tasks that change data (reliability.md F5–F8).

``SAFE_TO_RERUN``: acked late and rejected on a lost worker, so a killed worker's task is delivered
again; retried only on a lost or locked database connection, with backoff, at most 3 times. Only
for tasks whose effect a second run cannot double (each says why; docs/architecture.md lists them).
``FILE_JOB``: the same, for the jobs that read or write a whole file (legacy imports, large exports).
"""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError

TRANSIENT = (OperationalError, InterfaceError)
SAFE_TO_RERUN: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
}
FILE_JOB: dict[str, Any] = SAFE_TO_RERUN | {"soft_time_limit": 25 * 60, "time_limit": 30 * 60, "ignore_result": True}
