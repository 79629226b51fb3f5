"""The beat schedule (Celery's own beat, static). Every entry expires so a backlog cannot pile up."""

from datetime import timedelta

CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {
        "task": "worker.tasks.health.heartbeat_task",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 4 * 60},
    },
}
