"""Large exports (reliability.md D4): 202 and a job, built by the worker into private storage, logged once,
downloaded by the user who asked only, for 24 hours, as an uncacheable attachment; expired files purged."""

from __future__ import annotations

import csv
import io
import os
import stat
import uuid
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from installations.lifecycle import Status
from installations.models import User
from legacy.exports import export_file_path, export_files_purge, export_job_run
from legacy.models import ExportLog
from legacy.rows import COLUMN_NAMES
from tests.clients import client_for, streamed_body
from tests.factories import InstallationFactory, UserFactory
from worker.jobs import JOB_QUEUES, JOB_TASKS, job_create
from worker.models import Job, JobKind, JobState, OutboxMessage
from worker.tasks.exports import export_files_purge_task, legacy_export_task

MASKED_COLUMNS = [name for name in COLUMN_NAMES if name not in {"calle_numero", "latitud", "longitud"}]
JUSTIFICATION = "Solicitud ARCO de acceso 2024-17"
INSTALLATIONS_CSV = "/api/v1/exports/installations.csv"


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data: bytes) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def grant_full_personal_data(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="export_full_pii"))
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    """Exports of more than two rows go to a worker, into a private folder of this test."""
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 2
    settings.HARVEST_EXPORTS_DIR = tmp_path / "exports"
    return tmp_path / "exports"


@pytest.fixture
def systems(db) -> list:
    """Three systems in the coordinator's alcaldías (09007, 09009) and one in Tlalpan (09012)."""
    return [
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09007", application__status=Status.ACTIVE),
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09009", application__status=Status.NEEDS_MAINTENANCE),
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09007", application__status=Status.ACTIVE),
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09012", application__status=Status.ACTIVE),
    ]


def queue_and_build(client: APIClient, path: str, params: dict | None = None) -> Job:
    """Ask for an export over the threshold and run its job as the worker would."""
    response = client.get(path, params or {})
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    legacy_export_task(job.pk.hex)
    job.refresh_from_db()
    return job


def download(client: APIClient, job: Job):
    return client.get(f"/api/v1/exports/files/{job.pk}/")


# --- 202 and the job -------------------------------------------------------------------------------------------------
def test_an_export_over_the_threshold_answers_202_with_the_queued_job_and_its_location(administrator, systems):
    response = client_for(administrator).get(INSTALLATIONS_CSV, {"status": "active"})

    assert response.status_code == 202
    body = response.json()
    job = Job.objects.get()
    assert body["id"] == str(job.pk) and response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/jobs/{job.pk}/")
    assert (body["kind"], body["kind_label"], body["state"]) == (JobKind.EXPORT, "Exportación de registros", "queued")
    assert (job.created_by, job.parameters["kind"], job.parameters["format"]) == (administrator, "installations", "csv")
    assert job.parameters["query"] == {"status": ["active"]}
    message = OutboxMessage.objects.get()  # ids only reach the broker (F2)
    assert (message.task_name, message.args, message.queue) == (JOB_TASKS[JobKind.EXPORT], [str(job.pk)], "imports")
    assert not ExportLog.objects.exists()  # logged once built


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/exports/installations.csv",
        "/api/v1/exports/installations.xlsx",
        "/api/v1/exports/applications.csv",
        "/api/v1/exports/applications.xlsx",
        "/api/v1/exports/padron.csv",
        "/api/v1/exports/padron.xlsx",
    ],
)
def test_every_export_goes_to_a_worker_over_the_threshold_and_is_built_at_once_up_to_it(coordinator, systems, settings, path):
    client = client_for(coordinator)  # she sees three rows of each

    assert client.get(path).status_code == 202
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 3
    at_threshold = client.get(path)

    assert at_threshold.status_code == 200
    assert at_threshold["Content-Disposition"].startswith("attachment; filename=")
    assert at_threshold["Cache-Control"] == "no-store"
    assert Job.objects.count() == 1 and ExportLog.objects.count() == 1


@pytest.mark.parametrize(
    "query",
    [
        {"status": "nada"},
        {"status": ""},
        {"colonia": "0.5"},
        {"installed_on_after": "ayer"},
        {"estatus": "active"},
        {"full_personal_data": "yes"},
    ],
)
def test_a_bad_filter_is_a_400_naming_it_before_any_job_is_queued(administrator, systems, query):
    response = client_for(administrator).get(INSTALLATIONS_CSV, query)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [next(iter(query)).removesuffix("_after")]
    assert not Job.objects.exists() and not OutboxMessage.objects.exists()


def test_full_personal_data_without_the_permission_is_refused_before_any_job_is_queued(coordinator, systems):
    response = client_for(coordinator).get(INSTALLATIONS_CSV, {"full_personal_data": "true", "justification": JUSTIFICATION})

    assert response.status_code == 403
    assert not Job.objects.exists()


# --- The worker builds what the request would have -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/exports/installations.csv", {}),
        ("/api/v1/exports/installations.csv", {"status": ["active", "needs_maintenance"], "alcaldia": "09007"}),
        ("/api/v1/exports/applications.csv", {"program_year": "2023", "modality": "total_subsidy"}),
        ("/api/v1/exports/padron.csv", {"program_year": "2023"}),
        ("/api/v1/exports/installations.xlsx", {"status": "active"}),
        ("/api/v1/exports/padron.xlsx", {}),
    ],
)
def test_the_worker_builds_the_file_the_request_would_have_given(administrator, systems, settings, path, params):
    client = client_for(administrator)
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 0
    job = queue_and_build(client, path, params)
    built = download(client, job)
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 10_000

    at_once = client.get(path, params)

    assert (built.status_code, at_once.status_code) == (200, 200)
    assert built["Content-Disposition"] == at_once["Content-Disposition"]
    assert built["Content-Type"] == at_once["Content-Type"]
    if path.endswith(".csv"):
        assert streamed_body(built) == streamed_body(at_once)
    else:  # the zip records when it was written; the cells are what must match
        assert xlsx_rows(streamed_body(built)) == xlsx_rows(streamed_body(at_once))
    first, second = ExportLog.objects.order_by("pk")
    fields = ("user", "kind", "format", "filters", "row_count", "columns", "full_personal_data")
    assert [getattr(first, name) for name in fields] == [getattr(second, name) for name in fields]
    assert job.state == JobState.SUCCEEDED and job.result["rows"] == first.row_count


def test_the_export_is_logged_once_even_when_the_task_runs_twice(coordinator, systems):
    client = client_for(coordinator)
    asked = client.get(INSTALLATIONS_CSV, {"status": ["active", "needs_maintenance"]})
    job_id = asked.json()["id"]

    legacy_export_task(job_id)
    legacy_export_task(job_id)  # a second delivery (acks_late): finds the job finished

    log = ExportLog.objects.get()
    assert (log.user, log.role, log.kind, log.format, log.channel) == (coordinator, "coordinator", "installations", "csv", "api")
    assert (log.filters, log.row_count, log.full_personal_data) == ({"status": ["active", "needs_maintenance"]}, 3, False)
    assert log.request_id == asked["X-Request-ID"]  # the request that asked, as for an export built at once
    job = Job.objects.get()
    assert (job.state, job.attempts, job.progress_done, job.progress_total) == (JobState.SUCCEEDED, 1, 3, 3)


def test_a_rerun_after_a_lost_worker_replaces_the_half_written_file_and_logs_once(administrator, systems, storage):
    # given: a worker died after starting the job, leaving a partial file and the final name half-written
    client_for(administrator).get(INSTALLATIONS_CSV)
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING, attempts=1)
    storage.mkdir(parents=True)
    export_file_path(job).write_bytes(b"half")
    # when
    export_job_run(job.pk)
    # then
    assert csv_rows(export_file_path(job).read_bytes())[0] == MASKED_COLUMNS
    assert ExportLog.objects.count() == 1
    assert sorted(path.name for path in storage.iterdir()) == [f"{job.pk.hex}.csv"]


def test_the_file_lies_in_private_storage_under_a_name_the_server_made(administrator, systems, storage):
    job = queue_and_build(client_for(administrator), INSTALLATIONS_CSV)

    [path] = storage.iterdir()
    assert path.name == f"{job.pk.hex}.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700


# --- Masking in the worker (D2) ---------------------------------------------------------------------------------------
def test_a_coordinators_export_built_by_the_worker_is_masked_and_scoped(coordinator, systems):
    client = client_for(coordinator)
    job = queue_and_build(client, INSTALLATIONS_CSV)

    header, *rows = csv_rows(streamed_body(download(client, job)))

    assert header == MASKED_COLUMNS
    assert len(rows) == 3  # her alcaldías only
    curps = {system.application.applicant.curp for system in systems}
    assert not curps & {cell for row in rows for cell in row}
    assert ExportLog.objects.get().full_personal_data is False


def test_full_personal_data_built_by_the_worker_has_every_column_and_is_logged_with_its_reason(administrator, systems):
    client = client_for(administrator)
    job = queue_and_build(client, INSTALLATIONS_CSV, {"full_personal_data": "true", "justification": JUSTIFICATION})

    header, *rows = csv_rows(streamed_body(download(client, job)))

    assert header == COLUMN_NAMES
    assert {row[header.index("curp")] for row in rows} == {system.application.applicant.curp for system in systems}
    log = ExportLog.objects.get()
    assert (log.full_personal_data, log.justification, log.columns) == (True, JUSTIFICATION, COLUMN_NAMES)
    assert job.parameters["query"] == {}  # the personal-data choice is not a filter


def test_a_user_who_lost_the_permission_before_the_worker_ran_gets_no_file(coordinator, systems, storage):
    coordinator = grant_full_personal_data(coordinator)
    client_for(coordinator).get(INSTALLATIONS_CSV, {"full_personal_data": "true", "justification": JUSTIFICATION})
    coordinator.user_permissions.clear()

    legacy_export_task(Job.objects.get().pk.hex)

    job = Job.objects.get()
    assert job.state == JobState.FAILED and job.error == "Ya no tiene permiso para esta exportación."
    assert not ExportLog.objects.exists()
    assert not storage.exists() or not list(storage.iterdir())


# --- Download: its owner only, for 24 hours ---------------------------------------------------------------------------
def test_the_owner_downloads_the_file_as_an_uncacheable_attachment(coordinator, systems):
    client = client_for(coordinator)
    job = queue_and_build(client, "/api/v1/exports/applications.xlsx")

    response = download(client, job)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="solicitudes-{timezone.localdate():%Y-%m-%d}.xlsx"'
    assert response["Cache-Control"] == "no-store"
    header, *rows = xlsx_rows(streamed_body(response))
    assert header == MASKED_COLUMNS and len(rows) == 3


def test_the_job_shows_its_owner_the_download_link_once_the_file_is_built(coordinator, systems):
    client = client_for(coordinator)
    job_url = client.get(INSTALLATIONS_CSV)["Location"]

    queued = client.get(job_url).json()
    legacy_export_task(Job.objects.get().pk.hex)
    built = client.get(job_url).json()

    assert "download_url" not in queued["result"]
    job = Job.objects.get()
    assert built["state"] == "succeeded"
    assert built["result"]["download_url"] == f"http://testserver/api/v1/exports/files/{job.pk}/"
    assert (built["result"]["rows"], built["result"]["format"]) == (3, "csv")
    assert "justification" not in str(built) and "query" not in built


def test_nobody_else_sees_the_job_or_downloads_the_file_not_even_an_administrator(coordinator, administrator, systems):
    other_coordinator = UserFactory(username="otra", role=User.Role.COORDINATOR, is_staff=True)
    other_coordinator.alcaldias.set(["09009", "09007"])
    job = queue_and_build(client_for(coordinator), INSTALLATIONS_CSV)

    for user in (administrator, other_coordinator):
        client = client_for(user)
        assert download(client, job).status_code == 404
        assert client.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert client_for(UserFactory(role=User.Role.TECHNICIAN)).get(f"/api/v1/exports/files/{job.pk}/").status_code == 403
    assert client_for(None).get(f"/api/v1/exports/files/{job.pk}/").status_code == 401
    assert download(client_for(coordinator), job).status_code == 200


def test_an_unknown_or_unfinished_export_is_not_found(administrator, systems):
    client = client_for(administrator)
    client.get(INSTALLATIONS_CSV)
    queued = Job.objects.get()
    coverage, _created = job_create(kind=JobKind.COVERAGE_FULL, lane="coverage", by=administrator)

    for job_id in (queued.pk, coverage.pk, uuid.uuid4()):
        assert client.get(f"/api/v1/exports/files/{job_id}/").status_code == 404


def test_after_24_hours_the_link_is_gone_and_the_file_deleted(coordinator, systems, monkeypatch):
    client = client_for(coordinator)
    job = queue_and_build(client, INSTALLATIONS_CSV)
    built_at = timezone.now()
    path = export_file_path(job)

    monkeypatch.setattr(timezone, "now", lambda: built_at + timedelta(hours=23, minutes=59))
    assert download(client, job).status_code == 200
    monkeypatch.setattr(timezone, "now", lambda: built_at + timedelta(hours=24))
    response = download(client, job)

    assert response.status_code == 410
    assert response.json()["code"] == "gone"
    assert not path.exists()
    assert "download_url" not in client.get(f"/api/v1/jobs/{job.pk}/").json()["result"]


def test_a_full_personal_data_file_is_refused_to_its_owner_once_the_permission_is_withdrawn(coordinator, systems):
    coordinator = grant_full_personal_data(coordinator)
    job = queue_and_build(
        client_for(coordinator), INSTALLATIONS_CSV, {"full_personal_data": "true", "justification": JUSTIFICATION}
    )
    coordinator.user_permissions.clear()

    assert download(client_for(User.objects.get(pk=coordinator.pk)), job).status_code == 403


# --- The purge ----------------------------------------------------------------------------------------------------
def test_the_purge_deletes_expired_failed_orphaned_and_abandoned_files_and_nothing_else(administrator, systems, storage):
    # given
    client = client_for(administrator)
    fresh = queue_and_build(client, INSTALLATIONS_CSV)
    expired = queue_and_build(client, INSTALLATIONS_CSV)
    Job.objects.filter(pk=expired.pk).update(
        result={**expired.result, "expires_at": (timezone.now() - timedelta(seconds=1)).isoformat()}
    )
    client.get(INSTALLATIONS_CSV)
    running = Job.objects.filter(state=JobState.QUEUED).get()
    export_file_path(running).write_bytes(b"a rerun's file")
    failed = Job.objects.create(kind=JobKind.EXPORT, lane="export-failed", state=JobState.FAILED, parameters={"format": "csv"})
    export_file_path(failed).write_bytes(b"")
    orphan = storage / f"{uuid.uuid4().hex}.xlsx"
    orphan.write_bytes(b"")
    abandoned = storage / f"{running.pk.hex}.abc123.part"
    abandoned.write_bytes(b"")
    two_hours_ago = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    writing = storage / f"{running.pk.hex}.def456.part"
    writing.write_bytes(b"")
    unknown = storage / "README"
    unknown.write_bytes(b"")
    # when
    deleted = export_files_purge_task()
    again = export_files_purge()
    # then
    assert (deleted, again) == (4, 0)
    assert sorted(path.name for path in storage.iterdir()) == sorted(
        [export_file_path(fresh).name, export_file_path(running).name, writing.name, unknown.name]
    )


def test_the_purge_runs_hourly_on_the_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["export-files-purge"]

    assert entry["task"] == "worker.tasks.exports.export_files_purge_task"
    assert entry["schedule"] == timedelta(hours=1) and 0 < entry["options"]["expires"] <= 3600


def test_the_export_task_is_safe_to_rerun_and_limited():
    assert JOB_QUEUES[JobKind.EXPORT] == "imports"
    assert legacy_export_task.acks_late and legacy_export_task.reject_on_worker_lost
    assert legacy_export_task.soft_time_limit < legacy_export_task.time_limit < 7_200
    assert export_files_purge_task.soft_time_limit < export_files_purge_task.time_limit


def test_progress_is_counted_on_the_job_while_the_rows_are_written(administrator, systems, monkeypatch):
    monkeypatch.setattr("legacy.exports.EXPORT_PROGRESS_ROWS", 1)
    client_for(administrator).get(INSTALLATIONS_CSV)
    job = Job.objects.get()

    with CaptureQueriesContext(connection) as queries:
        legacy_export_task(job.pk.hex)

    steps = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "progress_done" in q["sql"]]
    assert len(steps) == 4 + 1  # one per row, then the job's end
    job.refresh_from_db()
    assert (job.state, job.progress_done, job.progress_total) == (JobState.SUCCEEDED, 4, 4)
    assert csv_rows(export_file_path(job).read_bytes())[1:] and ExportLog.objects.get().row_count == 4


def test_the_schema_documents_the_202_and_the_download(client, db):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    assert "202" in paths["/api/v1/exports/installations.csv"]["get"]["responses"]
    assert "Location" in paths["/api/v1/exports/padron.xlsx"]["get"]["responses"]["202"]["headers"]
    assert {"200", "404", "410"} <= set(paths["/api/v1/exports/files/{id}/"]["get"]["responses"])
