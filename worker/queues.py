"""The Celery queues and which task goes to which. Settings read these; tasks never name a queue."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"
    STATISTICS = "statistics"
    IMPORTS = "imports"


CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    "worker.tasks.health.*": {"queue": Queue.DEFAULT.value},
    "worker.tasks.housekeeping.*": {"queue": Queue.DEFAULT.value},
    "worker.tasks.outbox.*": {"queue": Queue.DEFAULT.value},
    "worker.tasks.maintenance.*": {"queue": Queue.DEFAULT.value},
    "worker.tasks.coverage.*": {"queue": Queue.STATISTICS.value},
    "worker.tasks.imports.*": {"queue": Queue.IMPORTS.value},
    "worker.tasks.exports.*": {"queue": Queue.IMPORTS.value},
}
