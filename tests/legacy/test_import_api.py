"""``POST /api/v1/imports/``: the upload, its checks, the 202 + job, who may import, and the report on the job."""

from __future__ import annotations

import pytest

from installations.models import Application
from legacy.reading import LIMITS
from tests.clients import client_for
from tests.factories import ColoniaFactory, UserFactory
from tests.legacy import files
from worker.models import Job, JobKind, JobState, OutboxMessage
from worker.tasks.imports import legacy_import_task

IMPORTS = "/api/v1/imports/"


@pytest.fixture(autouse=True)
def imports_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "imports"


@pytest.fixture
def tlalpan(db):
    return ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")


@pytest.fixture
def sheet(tmp_path):
    """An open CSV of the given rows, named padron.csv, as a browser would send it."""
    made = tmp_path / "made"

    def build(rows: list[dict[str, str]]):
        folder = made / str(len(list(made.glob("*"))) if made.exists() else 0)
        folder.mkdir(parents=True)
        return files.write_csv(folder / "padron.csv", rows).open("rb")

    return build


def test_an_upload_answers_202_with_the_queued_job_and_its_location(tlalpan, coordinator, sheet):
    response = client_for(coordinator).post(IMPORTS, {"file": sheet([files.row(1)]), "dry_run": "true"}, format="multipart")

    assert response.status_code == 202
    body = response.json()
    job = Job.objects.get()
    assert body["id"] == str(job.pk) and response["Location"] == body["url"]
    assert (body["kind"], body["kind_label"], body["state"]) == (JobKind.LEGACY_IMPORT, "Importación de hoja legada", "queued")
    assert body["progress"] == {"done": 0, "total": 0, "percent": None}
    assert job.parameters["dry_run"] is True and job.parameters["name"] == "padron.csv"
    assert OutboxMessage.objects.get().args == [str(job.pk)]


def test_the_job_shows_the_report_once_the_worker_has_run_it(tlalpan, coordinator, sheet):
    # given: a sheet whose third row has an impossible tank size
    api = client_for(coordinator)
    rows = [files.row(1), files.row(2), files.row(3, capacidad_tanque_l="0")]
    job_url = api.post(IMPORTS, {"file": sheet(rows), "dry_run": "false"}, format="multipart")["Location"]
    # when
    legacy_import_task(Job.objects.get().pk.hex)
    body = api.get(job_url).json()
    # then: nothing stored, and the office sees row 4 (the header is row 1), its column and why
    assert body["state"] == JobState.SUCCEEDED
    assert body["progress"] == {"done": 3, "total": 3, "percent": 100}
    report = body["result"]
    assert (report["ok"], report["dry_run"], report["rows"], report["created"]) == (False, False, 3, 0)
    assert report["rejected_rows"] == 1
    (error,) = report["errors"]
    assert (error["row"], error["column"]) == (4, "capacidad_tanque_l") and error["message"]
    assert Application.objects.count() == 0


def test_a_clean_sheet_is_stored_and_counted(tlalpan, administrator, sheet):
    api = client_for(administrator)
    api.post(IMPORTS, {"file": sheet([files.row(1), files.row(2)])}, format="multipart")
    legacy_import_task(str(Job.objects.get().pk))
    job = Job.objects.get()
    assert job.result["ok"] and job.result["created"] == 2
    assert Application.objects.filter(channel="legado").count() == 2


def test_technicians_may_not_import(technician, sheet, imports_dir):
    response = client_for(technician).post(IMPORTS, {"file": sheet([files.row(1)])}, format="multipart")
    assert response.status_code == 403
    assert Job.objects.count() == 0 and not imports_dir.exists()


def test_anonymous_callers_may_not_import(db, sheet):
    assert client_for(None).post(IMPORTS, {"file": sheet([files.row(1)])}, format="multipart").status_code == 401


def test_a_file_that_is_not_a_sheet_is_a_400_naming_the_field_file(coordinator, tmp_path, imports_dir):
    pdf = tmp_path / "padron.pdf"
    pdf.write_bytes(b"%PDF-1.7\n...")
    response = client_for(coordinator).post(IMPORTS, {"file": pdf.open("rb")}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["file"]
    assert Job.objects.count() == 0 and not any(imports_dir.iterdir())


def test_an_xlsx_that_is_not_a_zip_is_a_400_naming_the_field_file(coordinator, tmp_path):
    fake = tmp_path / "padron.xlsx"
    fake.write_bytes(b"folio_legado,curp\n1,2\n")
    response = client_for(coordinator).post(IMPORTS, {"file": fake.open("rb")}, format="multipart")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["file"]


def test_no_file_or_a_dry_run_that_is_not_true_or_false_is_a_400_naming_the_field(coordinator, sheet):
    api = client_for(coordinator)
    missing = api.post(IMPORTS, {"dry_run": "true"}, format="multipart")
    assert missing.status_code == 400 and list(missing.json()["fields"]) == ["file"]
    vague = api.post(IMPORTS, {"file": sheet([files.row(1)]), "dry_run": "sí"}, format="multipart")
    assert vague.status_code == 400 and list(vague.json()["fields"]) == ["dry_run"]
    assert Job.objects.count() == 0


@pytest.mark.parametrize("extra", [1, 2 * 1024 * 1024], ids=["just-over", "far-over"])
def test_an_upload_over_20_mb_is_a_413(coordinator, tmp_path, imports_dir, extra):
    big = tmp_path / "padron.csv"
    with big.open("wb") as out:
        out.write(b"folio_legado\n")
        out.write(b"x" * (LIMITS.max_bytes + extra - len(b"folio_legado\n")))
    response = client_for(coordinator).post(IMPORTS, {"file": big.open("rb")}, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "20 MB" in response.json()["detail"]
    assert Job.objects.count() == 0 and not imports_dir.exists()


def test_a_coordinator_follows_her_own_import_but_not_anothers(tlalpan, coordinator, sheet):
    url = client_for(coordinator).post(IMPORTS, {"file": sheet([files.row(1)])}, format="multipart")["Location"]
    other = UserFactory(username="otra-coordinadora", role="coordinator", is_staff=True)
    assert client_for(coordinator).get(url).status_code == 200
    assert client_for(other).get(url).status_code == 404


def test_the_schema_documents_the_upload(client, db):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    operation = paths["/api/v1/imports/"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"202", "400", "413"} <= set(operation["responses"])


# --- The admin's import screen ----------------------------------------------------------------------------
ADMIN_IMPORT = "/admin/legacy/importar/"


def test_an_administrator_uploads_in_the_admin_and_follows_the_job_to_its_report(tlalpan, administrator, client, sheet):
    client.force_login(administrator)
    # the form
    page = client.get(ADMIN_IMPORT)
    assert page.status_code == 200
    assert "Importar hoja legada" in page.content.decode() and "folio_legado" in page.content.decode()
    # the upload (a real run) goes to the job's page
    rows = [files.row(1), files.row(2, curp="HEML750501MDFRPR0X")]
    response = client.post(ADMIN_IMPORT, {"file": sheet(rows)})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{ADMIN_IMPORT}{job.pk}/"
    assert (job.created_by, job.parameters["dry_run"]) == (administrator, False)
    # which refreshes itself while the job waits
    waiting = client.get(response["Location"]).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in waiting and "En cola" in waiting
    # and shows the report once the worker is done
    legacy_import_task(str(job.pk))
    done = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert "1 fila tiene errores; no se guardó nada." in done
    assert "<td>3</td><td>curp</td>" in done  # the header is row 1
    report = client.get(f"{ADMIN_IMPORT}{job.pk}/reporte.csv")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report.content.decode("utf-8-sig").splitlines()[1].startswith("3,curp,")
    assert Application.objects.count() == 0


def test_solo_validar_is_a_dry_run(tlalpan, coordinator, client, sheet):
    client.force_login(coordinator)
    client.post(ADMIN_IMPORT, {"file": sheet([files.row(1)]), "dry_run": "on"})
    job = Job.objects.get()
    legacy_import_task(str(job.pk))
    page = client.get(f"{ADMIN_IMPORT}{job.pk}/").content.decode()
    assert "La hoja no tiene errores: se puede importar." in page
    assert Application.objects.count() == 0


def test_the_admin_refuses_a_file_that_is_not_a_sheet_on_the_form(administrator, client, tmp_path):
    client.force_login(administrator)
    pdf = tmp_path / "padron.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    response = client.post(ADMIN_IMPORT, {"file": pdf.open("rb")})
    assert response.status_code == 200
    assert response.context["form"].errors["file"][0].startswith("Solo se aceptan archivos .csv o .xlsx")
    assert Job.objects.count() == 0


def test_the_admin_refuses_a_declared_oversized_body_with_413_and_reads_a_malformed_length_as_none(administrator, client, sheet):
    client.force_login(administrator)
    over = client.post(ADMIN_IMPORT, {"dry_run": "on"}, CONTENT_LENGTH=str(LIMITS.max_bytes + 1024 * 1024))
    assert over.status_code == 413 and "20 MB" in over.context["form"].errors["file"][0]
    malformed = client.post(ADMIN_IMPORT, {"file": sheet([files.row(1)])}, CONTENT_LENGTH="mucho")
    # Read as Django reads it (no body): the form says the file is missing, not a server error.
    assert malformed.status_code == 200 and malformed.context["form"].errors["file"]
    assert Job.objects.count() == 0


def test_the_empty_template_is_the_contracts_header_in_utf8_with_a_bom(coordinator, client):
    client.force_login(coordinator)
    response = client.get(f"{ADMIN_IMPORT}plantilla.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="plantilla_hoja_legada.csv"'
    assert response.content.startswith("\ufeff".encode())
    assert response.content.decode("utf-8-sig").strip() == ",".join(files.HEADER)


def test_the_import_screen_is_listed_under_the_legacy_app_for_program_staff(coordinator, client):
    client.force_login(coordinator)
    index = client.get("/admin/").content.decode()
    assert f'href="{ADMIN_IMPORT}"' in index and "Importar hoja legada" in index


def test_a_coordinator_sees_her_own_imports_only(tlalpan, coordinator, administrator, client, sheet):
    client.force_login(administrator)
    client.post(ADMIN_IMPORT, {"file": sheet([files.row(1)])})
    job = Job.objects.get()
    client.force_login(coordinator)
    assert client.get(f"{ADMIN_IMPORT}{job.pk}/").status_code == 404
    assert client.get(f"{ADMIN_IMPORT}{job.pk}/reporte.csv").status_code == 404
    assert str(job.pk) not in client.get(ADMIN_IMPORT).content.decode()


def test_staff_without_a_program_role_cannot_import_in_the_admin(client, db, sheet):
    stray = UserFactory(username="personal", role="technician", is_staff=True)
    client.force_login(stray)
    assert client.get(ADMIN_IMPORT).status_code == 403
    assert client.get(f"{ADMIN_IMPORT}plantilla.csv").status_code == 403
    assert client.post(ADMIN_IMPORT, {"file": sheet([files.row(1)])}).status_code == 403
    assert Job.objects.count() == 0
