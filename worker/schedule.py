"""The beat schedule (Celery's own beat, static). Every entry expires so a backlog cannot pile up.

Exactly one beat runs (deployment: one `beat` process; docs/deploy.md). Work due later than the
broker's visibility timeout is never scheduled with eta/countdown: a beat entry looks it up in the
database instead (reliability.md F8).
"""

from datetime import timedelta

from celery.schedules import crontab
from environ import Env

env = Env()
# Tests and demos shorten these; production keeps the defaults.
OUTBOX_RELAY_SECONDS = env.int("HARVEST_OUTBOX_RELAY_SECONDS", default=15)
COVERAGE_REFRESH_SECONDS = env.int("HARVEST_COVERAGE_REFRESH_SECONDS", default=5 * 60)
JOBS_RECOVER_SECONDS = env.int("HARVEST_JOBS_RECOVER_SECONDS", default=60)

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
    "outbox-relay": {
        "task": "worker.tasks.outbox.outbox_relay_task",
        "schedule": timedelta(seconds=OUTBOX_RELAY_SECONDS),
        "options": {"expires": OUTBOX_RELAY_SECONDS},
    },
    "jobs-recover": {
        "task": "worker.tasks.outbox.jobs_recover_task",
        "schedule": timedelta(seconds=JOBS_RECOVER_SECONDS),
        "options": {"expires": JOBS_RECOVER_SECONDS},
    },
    "coverage-refresh": {
        "task": "worker.tasks.coverage.coverage_refresh_task",
        "schedule": timedelta(seconds=COVERAGE_REFRESH_SECONDS),
        "options": {"expires": COVERAGE_REFRESH_SECONDS},
    },
    # Built exports may be downloaded for 24 hours; the download refuses them after that, and this
    # deletes their files within the hour (reliability.md D4).
    "export-files-purge": {
        "task": "worker.tasks.exports.export_files_purge_task",
        "schedule": timedelta(hours=1),
        "options": {"expires": 30 * 60},
    },
    "maintenance-sweep": {
        "task": "worker.tasks.maintenance.maintenance_sweep_task",
        "schedule": crontab(hour=5, minute=0),
        "options": {"expires": 6 * 60 * 60},
    },
}
