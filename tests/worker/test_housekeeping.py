"""The purge of old idempotency answers and ended counters: one effect, however often it runs."""

from datetime import timedelta

from django.utils import timezone

from api.models import IdempotencyRecord, RateCounter
from tests.factories import UserFactory
from worker.tasks.housekeeping import api_records_purge_task


def test_old_idempotency_answers_and_ended_counters_are_deleted_once(db, settings):
    # given
    user = UserFactory()
    old = IdempotencyRecord.objects.create(user=user, key="old-key-123", fingerprint="x")
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.HARVEST_IDEMPOTENCY_DAYS + 1)
    )
    recent = IdempotencyRecord.objects.create(user=user, key="new-key-123", fingerprint="y")
    RateCounter.objects.create(key="ended", count=3, expires_at=timezone.now() - timedelta(seconds=1))
    RateCounter.objects.create(key="running", count=1, expires_at=timezone.now() + timedelta(minutes=5))
    # when: run twice, as a duplicate delivery would
    first = api_records_purge_task()
    second = api_records_purge_task()
    # then
    assert first == {"idempotency_records": 1, "counters": 1}
    assert second == {"idempotency_records": 0, "counters": 0}
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["running"]
