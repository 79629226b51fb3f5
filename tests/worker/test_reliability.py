"""Celery reliability rules (reliability.md F1–F12) that can be checked without a worker process."""

from __future__ import annotations

import ast
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

import worker.tasks  # noqa: F401 -- registers every task
from coverage.services import coverage_refresh_request
from harvest.celery import app
from worker.jobs import MAX_JOB_ATTEMPTS, job_create, jobs_recover
from worker.models import FailedTask, Job, JobKind, JobState, OutboxMessage
from worker.outbox import outbox_enqueue, outbox_relay
from worker.queues import Queue

ROOT = Path(settings.BASE_DIR)
OURS = {name: task for name, task in app.tasks.items() if name.startswith("worker.")}


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, list]]:
    """What reaches the broker, recorded instead of sent."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, **kw: sent.append((name, list(args or []))))
    return sent


@pytest.fixture
def broker_down(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", refuse)


# --- Settings -------------------------------------------------------------------------------------
def test_the_visibility_timeout_exceeds_every_task_time_limit(settings):
    # F8: Redis must never re-deliver a task that is still running.
    longest = max(task.time_limit for task in OURS.values())
    # The production value (the filesystem broker of the embedded default has no visibility timeout).
    assert longest < 7_200
    if "visibility_timeout" in settings.CELERY_BROKER_TRANSPORT_OPTIONS:
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > longest


def test_no_code_schedules_work_with_eta_or_countdown():
    # F8: work due later is found by a daily beat task in the database, never held in the broker.
    offenders = []
    for path in [*ROOT.glob("installations/**/*.py"), *ROOT.glob("coverage/**/*.py"), *ROOT.glob("worker/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in {"eta", "countdown"}:
                offenders.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
    assert offenders == []


def test_retries_are_bounded_and_only_for_named_transient_errors():
    # F9
    for name, task in OURS.items():
        autoretry = getattr(task, "autoretry_for", ())
        if autoretry:
            assert Exception not in autoretry and BaseException not in autoretry, name
            assert task.max_retries is not None and task.max_retries <= 5, name
            assert task.retry_backoff, name


def test_tasks_that_survive_a_lost_worker_are_the_ones_safe_to_rerun():
    # F5: acks_late only with reject_on_worker_lost, and never on a task that is not idempotent.
    for name, task in OURS.items():
        if task.acks_late:
            assert task.reject_on_worker_lost, name
    for name in (
        "worker.tasks.coverage.coverage_compile_task",
        "worker.tasks.coverage.coverage_part_task",
        "worker.tasks.coverage.coverage_merge_task",
        "worker.tasks.maintenance.maintenance_sweep_task",
        "worker.tasks.outbox.outbox_relay_task",
    ):
        assert OURS[name].acks_late and OURS[name].reject_on_worker_lost, name


def test_fire_and_forget_tasks_store_no_result_and_results_expire_within_a_day(settings):
    # F10: only the heartbeat (read by a test and by operators) and the chord's parts keep a result.
    keeps = {name for name, task in OURS.items() if not task.ignore_result}
    assert keeps == {"worker.tasks.health.heartbeat_task", "worker.tasks.coverage.coverage_part_task"}
    assert 0 < settings.CELERY_RESULT_EXPIRES <= 24 * 3600


def test_every_beat_entry_names_a_registered_task_and_expires(settings):
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in OURS, name
        assert entry["options"]["expires"] > 0, name


def test_every_task_is_routed_to_a_declared_queue(settings):
    from celery.app.routes import prepare

    for name in OURS:
        route = next((r for r in prepare(settings.CELERY_TASK_ROUTES) if r(name, (), {}, {})), None)
        assert route is not None, name
        assert route(name, (), {}, {})["queue"] in {q.value for q in Queue}, name


# --- The outbox (F3, F4) --------------------------------------------------------------------------------
def test_a_task_is_published_only_after_the_transaction_commits(db, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_enqueue("worker.tasks.health.heartbeat_task", [], queue=Queue.DEFAULT)
        assert published == []
    assert published == [("worker.tasks.health.heartbeat_task", [])]
    assert OutboxMessage.objects.get().published_at is not None


def test_a_rolled_back_request_queues_nothing(db, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        coverage_refresh_request(by=None)
        raise RuntimeError("the view failed after asking")
    assert published == []
    assert not OutboxMessage.objects.exists()
    assert not Job.objects.exists()


def test_with_the_broker_down_the_write_succeeds_and_the_task_waits_in_the_outbox(
    db, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job, created = coverage_refresh_request(by=None)
    assert created
    message = OutboxMessage.objects.get()
    assert message.published_at is None
    assert message.args == [str(job.pk)]
    assert "Connection refused" in message.last_error
    assert message.attempts == 1


def test_the_relay_publishes_pending_messages_once_each_oldest_first(db, published):
    first = OutboxMessage.objects.create(task_name="worker.tasks.health.heartbeat_task", args=[], queue="default")
    second = OutboxMessage.objects.create(task_name="worker.tasks.coverage.coverage_compile_task", args=["x"], queue="statistics")
    assert outbox_relay() == 2
    assert outbox_relay() == 0  # run twice, as beat and a starting worker may
    assert published == [(first.task_name, []), (second.task_name, ["x"])]
    assert not OutboxMessage.objects.filter(published_at=None).exists()


def test_the_relay_stops_at_the_first_broker_error_and_keeps_the_rest(db, broker_down):
    OutboxMessage.objects.create(task_name="worker.tasks.health.heartbeat_task", args=[], queue="default")
    OutboxMessage.objects.create(task_name="worker.tasks.health.heartbeat_task", args=[], queue="default")
    assert outbox_relay() == 0
    assert OutboxMessage.objects.filter(published_at=None).count() == 2
    assert list(OutboxMessage.objects.order_by("pk").values_list("attempts", flat=True)) == [1, 0]


@pytest.mark.parametrize("bad", [{"curp": "X"}, ["a", "b"], 1.5, True, None, "GOMG850101MDFMRD09", "Guadalupe"])
def test_outbox_arguments_are_ids_only(db, bad):
    # F2: nothing but ids (strings, integers) goes to the broker.
    with pytest.raises(TypeError):
        outbox_enqueue("worker.tasks.health.heartbeat_task", [bad], queue=Queue.DEFAULT)


# --- Jobs -------------------------------------------------------------------------------------------------
def test_one_lane_has_at_most_one_active_job(db):
    job, created = job_create(kind=JobKind.COVERAGE_FULL, lane="coverage", by=None)
    again, created_again = job_create(kind=JobKind.COVERAGE_INCREMENTAL, lane="coverage", by=None)
    assert created and not created_again and again.pk == job.pk
    Job.objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED)
    _, created_after = job_create(kind=JobKind.COVERAGE_FULL, lane="coverage", by=None)
    assert created_after


def test_a_stale_job_is_queued_again_and_given_up_after_its_attempts(db, published, settings):
    settings.HARVEST_JOB_STALE_SECONDS = 60
    job, _ = job_create(kind=JobKind.COVERAGE_FULL, lane="coverage", by=None)
    fresh, _ = job_create(kind=JobKind.COVERAGE_FULL, lane="other", by=None)
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5))
    with transaction.atomic():
        assert jobs_recover() == {"requeued": 1, "failed": 0}
    # queued again through the outbox (published on commit), and not twice
    assert OutboxMessage.objects.filter(args=[str(job.pk)]).count() == 1
    assert jobs_recover() == {"requeued": 0, "failed": 0}
    Job.objects.filter(pk=job.pk).update(attempts=MAX_JOB_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert jobs_recover() == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "interrumpió" in job.error
    fresh.refresh_from_db()
    assert fresh.state == JobState.QUEUED


def test_a_task_that_fails_for_good_leaves_a_failed_task_row(db):
    # F9: the signal Celery sends after the last retry.
    from celery.signals import task_failure

    task = OURS["worker.tasks.coverage.coverage_merge_task"]
    task_id = str(uuid.uuid4())
    task_failure.send(sender=task, task_id=task_id, exception=ValueError("boom"), args=[7])
    failed = FailedTask.objects.get(task_id=task_id)
    assert failed.task_name == task.name and failed.args == [7] and "boom" in failed.exception
