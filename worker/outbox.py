"""The transactional outbox: queue a task in the caller's transaction, publish it when the broker can.

``outbox_enqueue`` writes a row in the current transaction and, once it commits, tries to publish it
at once. If the broker is down the row simply stays pending and the write that called for it still
succeeds; ``outbox_relay`` (run by beat every few seconds and by each worker as it starts) publishes
whatever is pending. Delivery is at least once, so every task published this way is idempotent.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from worker.models import OutboxMessage
from worker.queues import Queue

logger = logging.getLogger(__name__)

# Errors that mean "the broker cannot take it now": the row stays pending for the relay.
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, ConnectionError, TimeoutError)
RELAY_BATCH = 500
# What may travel as a task argument (reliability.md F2): integers, UUIDs, digit codes — never names or a CURP.
_ID = re.compile(r"^[0-9a-fA-F-]{1,36}$")


def is_id(value: object) -> bool:
    """True for a primary key, a UUID or a digit code such as an INEGI key; False for anything personal."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, uuid.UUID)):
        return True
    return isinstance(value, str) and bool(_ID.match(value))


def outbox_enqueue(task_name: str, args: Sequence[str | int], *, queue: Queue) -> OutboxMessage:
    """Record a task to publish; it is published after the surrounding transaction commits."""
    for arg in args:
        if not is_id(arg):
            raise TypeError(f"outbox task arguments are ids only, not {type(arg).__name__}")
    message = OutboxMessage.objects.create(task_name=task_name, args=list(args), queue=queue.value)
    transaction.on_commit(lambda: outbox_publish(message.pk), robust=True)
    return message


def outbox_publish(message_id: int) -> bool:
    """Publish one pending message; True if it is (now or already) published."""
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update(skip_locked=True).filter(pk=message_id).first()
        if message is None or message.published_at is not None:
            return message is not None
        return _publish(message)


def outbox_relay(*, limit: int = RELAY_BATCH) -> int:
    """Publish pending messages, oldest first; stops at the first broker error. Returns how many went out."""
    published = 0
    while published < limit:
        with transaction.atomic():
            pending = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(published_at=None)
                .order_by("created_at", "pk")[: min(100, limit - published)]
            )
            if not pending:
                break
            for message in pending:
                if not _publish(message):
                    return published
                published += 1
    if published:
        logger.info("outbox: published %s pending tasks", published)
    return published


def outbox_pending_count() -> int:
    return OutboxMessage.objects.filter(published_at=None).count()


def _publish(message: OutboxMessage) -> bool:
    from harvest.celery import app

    message.attempts += 1
    try:
        app.send_task(message.task_name, args=message.args, queue=message.queue, retry=False)
    except BROKER_ERRORS as error:
        message.last_error = f"{type(error).__name__}: {error}"[:300]
        message.save(update_fields=["attempts", "last_error"])
        logger.warning("outbox: broker unavailable, %s stays pending (%s)", message, message.last_error)
        return False
    message.published_at = timezone.now()
    message.last_error = ""
    message.save(update_fields=["attempts", "last_error", "published_at"])
    return True
