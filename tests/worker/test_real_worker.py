"""A real Celery worker process, on the configured broker, runs a task against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.core.management import call_command
from django_celery_results.models import TaskResult

from tests.worker import processes


def _sender(queue_dir: Path) -> Celery:
    """A client app for the same broker; on the filesystem broker, pointed at the test's own folder."""
    app = Celery("probe", broker=settings.CELERY_BROKER_URL)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for folder in ("in", "processed", "control"):
            (queue_dir / folder).mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {
            "data_folder_in": str(queue_dir / "in"),
            "data_folder_out": str(queue_dir / "in"),
            "processed_folder": str(queue_dir / "processed"),
            "control_folder": str(queue_dir / "control"),
        }
    app.conf.task_serializer = "json"
    return app


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_heartbeat_against_the_test_database(tmp_path):
    # given: reference data committed where a separate process can read it, and a worker on the broker
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "harvest.settings.test",
        "DATABASE_URL": processes.database_url(),
        "CELERY_QUEUE_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "harvest",
            "worker",
            "--pool=solo",
            "-Q",
            "default",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # when: a task is published by another process's client
        result = _sender(tmp_path).send_task("worker.tasks.health.heartbeat_task", queue="default")
        deadline = time.monotonic() + 60
        stored = None
        while time.monotonic() < deadline and stored is None:
            stored = TaskResult.objects.filter(task_id=result.id, status="SUCCESS").first()
            time.sleep(0.3)
        # then: the worker ran it and stored its JSON result in the database
        assert stored is not None, "the worker did not finish the task within 60 s"
        assert '"alcaldias": 16' in stored.result
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_refuses_a_pickled_message_and_goes_on_with_json(tmp_path):
    # F1: only JSON is accepted; a pickle could run code in the worker.
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)
    log = tmp_path / "worker.log"
    worker = processes.celery_worker(env=processes.child_env(CELERY_QUEUE_DIR=str(tmp_path)), log=log, queues="default")
    try:
        sender = _sender(tmp_path)
        sender.conf.accept_content = ["json", "pickle"]
        pickled = sender.send_task("worker.tasks.health.heartbeat_task", queue="default", serializer="pickle")
        plain = sender.send_task("worker.tasks.health.heartbeat_task", queue="default")
        processes.wait_for(
            lambda: TaskResult.objects.filter(task_id=plain.id, status="SUCCESS").exists(), timeout=60, what="the JSON task"
        )
        assert not TaskResult.objects.filter(task_id=pickled.id).exists()
        assert "Refusing to deserialize untrusted content of type pickle" in log.read_text()
    finally:
        processes.stop(worker)
