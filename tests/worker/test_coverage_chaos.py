"""Coverage compiles against real workers (reliability.md F4–F6, I4).

Each test starts real processes on the test database: Celery workers (and beat, and gunicorn for
the outage test) on the configured broker or on a Redis of the test's own. They are slow (tens of
seconds) and marked ``worker``.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from api.authentication import device_token_issue
from coverage.models import CoverageSlice, CoverageSnapshot, SnapshotState
from coverage.services import coverage_alcaldias, coverage_compile_inline, coverage_refresh_request
from installations.models import Application, ProgramYear
from tests.api.test_public import registration
from tests.factories import EligibleColoniaFactory, make_curp
from tests.worker import processes
from worker.models import Job, JobState, OutboxMessage

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _seed(installations: int = 120) -> None:
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)
    call_command("seed_demo", "--installations", str(installations), "--seed", "11", verbosity=0)


def _scopes_per_snapshot() -> int:
    return (ProgramYear.objects.count() + 1) * (len(coverage_alcaldias()) + 1) * 3


def _served(client: APIClient) -> dict[str, Any]:
    response = client.get("/api/v1/coverage/")
    assert response.status_code == 200, response.content
    return response.json()


def _assert_whole(body: dict[str, Any], expected_scopes: int) -> None:
    """A served snapshot is published and complete: every scope's slice is there."""
    if body["snapshot"] is None:
        return
    snapshot = CoverageSnapshot.objects.get(pk=body["snapshot"]["id"])
    assert snapshot.state == SnapshotState.READY
    assert CoverageSlice.objects.filter(snapshot=snapshot).count() == expected_scopes


def _city_figures(snapshot_id: int) -> dict[str, Any]:
    figures = CoverageSlice.objects.get(snapshot_id=snapshot_id, program_year=0, alcaldia="", modality="").figures
    return {key: figures[key] for key in ("totals", "by_alcaldia", "funnel", "by_sex", "monthly_installations")}


def test_a_refresh_through_the_api_is_compiled_by_a_worker_and_then_served(tmp_path, administrator):
    # given: data, a worker on the configured broker, and a manager's client
    _seed()
    client = APIClient()
    client.force_authenticate(administrator)
    worker = processes.celery_worker(env=processes.child_env(), log=tmp_path / "worker.log")
    try:
        # when: the manager asks for a refresh
        response = client.post("/api/v1/coverage/refresh/", {}, format="json")
        # then: 202 with the job, which the worker finishes, and the new snapshot is what GET serves
        assert response.status_code == 202, response.content
        job_id = response.json()["id"]
        assert response["Location"].endswith(f"/api/v1/jobs/{job_id}/")
        processes.wait_for(
            lambda: client.get(f"/api/v1/jobs/{job_id}/").json()["state"] == "succeeded", timeout=120, what="the job"
        )
        body = client.get(f"/api/v1/jobs/{job_id}/").json()
        assert body["progress"]["done"] == body["progress"]["total"] > 0
        served = _served(client)
        assert served["snapshot"]["id"] == body["result"]["snapshot"]
        assert served["results"][0]["totals"]["applications"] == Application.objects.count()
    finally:
        processes.stop(worker)
        print((tmp_path / "worker.log").read_text()[-3000:], file=sys.stderr)


def test_a_worker_killed_mid_compile_leaves_nothing_half_built_and_the_compile_finishes_once(tmp_path, administrator):
    # given: a worker whose parts are slowed down, and a compile under way
    _seed()
    expected_scopes = _scopes_per_snapshot()
    env = processes.child_env(
        HARVEST_COVERAGE_PART_PAUSE_S="1.0",
        HARVEST_JOB_STALE_SECONDS="3",
        HARVEST_JOBS_RECOVER_SECONDS="2",
        HARVEST_OUTBOX_RELAY_SECONDS="2",
    )
    client = APIClient()
    client.force_authenticate(administrator)
    first = processes.celery_worker(env=env, log=tmp_path / "first.log")
    second = beat = None
    try:
        job_id = client.post("/api/v1/coverage/refresh/", {}, format="json").json()["id"]
        processes.wait_for(lambda: Job.objects.get(pk=job_id).progress_done >= 1, timeout=90, what="a first part")

        # when: the worker is killed with SIGKILL in the middle of the compile
        processes.stop(first, sig=signal.SIGKILL)
        killed = Job.objects.get(pk=job_id)

        # then: the job is not finished and nothing of its snapshot is served
        assert killed.state == JobState.RUNNING
        assert 1 <= killed.progress_done < killed.progress_total
        assert not CoverageSnapshot.objects.filter(job_id=job_id, state=SnapshotState.READY).exists()
        assert _served(client)["snapshot"] is None

        # when: a worker starts again, with beat (which queues again jobs that went quiet)
        second = processes.celery_worker(env=env, log=tmp_path / "second.log")
        beat = processes.celery_beat(env=env, log=tmp_path / "beat.log", schedule=tmp_path / "beat-schedule")

        # then: every snapshot served meanwhile is whole, and the compile finishes
        def finished() -> bool:
            _assert_whole(_served(client), expected_scopes)
            return Job.objects.get(pk=job_id).state == JobState.SUCCEEDED

        processes.wait_for(finished, timeout=120, every=0.3, what="the resumed compile")
        job = Job.objects.get(pk=job_id)
        snapshots = CoverageSnapshot.objects.filter(job_id=job_id)
        # exactly once: one snapshot, one part per alcaldía, progress counted once per part
        assert snapshots.count() == 1
        snapshot = snapshots.get()
        assert snapshot.state == SnapshotState.READY
        assert snapshot.parts.count() == len(coverage_alcaldias())
        assert job.progress_done == job.progress_total == len(coverage_alcaldias()) + 1
        assert job.attempts == 2
        assert CoverageSlice.objects.filter(snapshot=snapshot).count() == expected_scopes
        # and its figures equal a compile run from scratch in this process
        fresh, _ = coverage_refresh_request(by=None)
        recount = coverage_compile_inline(fresh)
        assert _city_figures(snapshot.pk) == _city_figures(recount.pk)
    finally:
        processes.stop(first, sig=signal.SIGKILL)
        for process in (second, beat):
            if process is not None:
                processes.stop(process)
        for name in ("first.log", "second.log", "beat.log"):
            log = tmp_path / name
            if log.exists():
                print(f"--- {name}\n{log.read_text()[-3000:]}", file=sys.stderr)


def _http(method: str, url: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 -- our own gunicorn on 127.0.0.1
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read())


def _json(raw: bytes) -> dict:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {"body": raw[:500].decode(errors="replace")}


@pytest.mark.skipif(processes.redis_server_path() is None, reason="needs redis-server")
def test_with_redis_stopped_the_api_takes_writes_and_the_work_is_published_once_redis_is_back(tmp_path, administrator):
    # given: the app's processes (gunicorn, a worker, beat) on a Redis of this test's own
    _seed()
    colonia = EligibleColoniaFactory(program_year=ProgramYear.objects.order_by("-year").first()).colonia
    _, token = device_token_issue(user=administrator, device_name="prueba de caída")
    redis_port, web_port = processes.free_port(), processes.free_port()
    # One Redis for the broker and the throttle counters, as in production.
    env = processes.child_env(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        CACHE_URL=f"redis://127.0.0.1:{redis_port}/1",
        HARVEST_OUTBOX_RELAY_SECONDS="2",
        HARVEST_NUM_PROXIES="0",
    )
    base = f"http://127.0.0.1:{web_port}"
    started: list = []
    with processes.private_redis(redis_port, tmp_path / "redis.log") as redis_start:
        redis = redis_start()
        try:
            started.append(
                processes.start(
                    [sys.executable, "-m", "gunicorn", "harvest.wsgi", "-b", f"127.0.0.1:{web_port}", "-w", "1"],
                    env=env,
                    log=tmp_path / "web.log",
                )
            )
            started.append(processes.celery_worker(env=env, log=tmp_path / "worker.log"))
            started.append(processes.celery_beat(env=env, log=tmp_path / "beat.log", schedule=tmp_path / "beat-schedule"))
            processes.wait_for(lambda: _up(base), timeout=60, what="gunicorn")

            # when: Redis stops, and the API takes a registration and a refresh
            processes.stop(redis, timeout=5)
            before = time.monotonic()
            registered, _ = _http("POST", f"{base}/api/v1/public/applications/", body=registration(colonia, curp=make_curp(4242)))
            refreshed, job = _http("POST", f"{base}/api/v1/coverage/refresh/", token=token, body={})
            elapsed = time.monotonic() - before

            # then: both writes succeed, promptly, and the compile waits in the outbox
            assert registered == 201
            assert refreshed == 202, job
            assert elapsed < 15
            pending = OutboxMessage.objects.filter(published_at=None)
            assert pending.count() == 1
            assert pending.get().last_error
            assert Job.objects.get(pk=job["id"]).state == JobState.QUEUED

            # when: Redis comes back
            redis_start()

            # then: within 60 s the pending work is published, and the compile counts the new registration
            processes.wait_for(
                lambda: Job.objects.get(pk=job["id"]).state == JobState.SUCCEEDED, timeout=90, what="the relayed job"
            )
            assert not OutboxMessage.objects.filter(published_at=None).exists()
            snapshot = CoverageSnapshot.objects.get(job_id=job["id"])
            assert snapshot.source_rows == Application.objects.count()
            assert Job.objects.filter(kind__startswith="coverage").count() == 1
        finally:
            for process in reversed(started):
                processes.stop(process)
            for log in sorted(Path(tmp_path).glob("*.log")):
                print(f"--- {log.name}\n{log.read_text()[-2500:]}", file=sys.stderr)


def _up(base: str) -> bool:
    try:
        status, _ = _http("GET", f"{base}/api/v1/alcaldias/")
    except OSError:
        return False
    return status < 500
