"""The beat schedule (Celery's own beat, static). Every entry expires so a backlog cannot pile up."""

from datetime import timedelta

CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "api-records-purge": {
        "task": "worker.tasks.housekeeping.api_records_purge_task",
        "schedule": timedelta(hours=6),
        "options": {"expires": 60 * 60},
    },
    "worker-heartbeat": {
        "task": "worker.tasks.health.heartbeat_task",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 4 * 60},
    },
}
