"""The embedded default and the production checks that settings promise."""

import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite-only settings")
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_immediate_transactions(db):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 20_000
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_spanish_is_the_default_language_and_english_the_second():
    assert settings.LANGUAGE_CODE == "es-mx"
    assert [code for code, _ in settings.LANGUAGES] == ["es-mx", "en"]
    assert settings.TIME_ZONE == "America/Mexico_City"


def test_celery_speaks_json_only_and_results_expire():
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_SERIALIZER == settings.CELERY_RESULT_SERIALIZER == "json"
    assert settings.CELERY_RESULT_EXPIRES <= 24 * 3600
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT


def test_every_registered_task_has_a_soft_and_a_hard_time_limit():
    import worker.tasks  # noqa: F401 -- registers every task module
    from harvest.celery import app

    ours = {name: task for name, task in app.tasks.items() if name.startswith("worker.")}
    assert ours
    for name, task in ours.items():
        assert task.soft_time_limit and task.time_limit, name
        assert task.soft_time_limit < task.time_limit, name
