"""Periodic clean-up of what the API keeps only for a while."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=120, time_limit=180, ignore_result=True)
def api_records_purge_task() -> dict[str, int]:
    """Delete idempotency records past their keeping period and ended throttle windows.

    Idempotency answers may hold a new request's verification code; they are kept only as long as
    a phone may stay offline (HARVEST_IDEMPOTENCY_DAYS), then deleted. Safe to run twice.
    """
    from api.counters import counters_purge_expired
    from api.models import IdempotencyRecord

    cutoff = timezone.now() - timedelta(days=settings.HARVEST_IDEMPOTENCY_DAYS)
    idempotency, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    counters = counters_purge_expired()
    logger.info("purged %s idempotency records and %s ended counters", idempotency, counters)
    return {"idempotency_records": idempotency, "counters": counters}
