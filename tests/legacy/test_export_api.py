"""The export endpoints: who may export, filters as in the lists, masking by permission, headers and the log."""

import csv
import io
from urllib.parse import parse_qs

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from installations.identifiers import folio_display
from installations.lifecycle import Status
from installations.models import User
from legacy.models import ExportLog
from legacy.rows import COLUMN_NAMES
from tests.clients import client_for, streamed_body
from tests.factories import ApplicationFactory, InstallationFactory

EXPORTS = [
    "/api/v1/exports/installations.csv",
    "/api/v1/exports/installations.xlsx",
    "/api/v1/exports/applications.csv",
    "/api/v1/exports/applications.xlsx",
    "/api/v1/exports/padron.csv",
    "/api/v1/exports/padron.xlsx",
]
ADDRESS_COLUMNS = {"calle_numero", "latitud", "longitud"}
MASKED_COLUMNS = [name for name in COLUMN_NAMES if name not in ADDRESS_COLUMNS]
FOREIGN_ALCALDIA = "09012"  # Tlalpan: the coordinator fixture covers 09009 and 09007 only
JUSTIFICATION = "Solicitud ARCO de acceso 2024-17"


def read_csv(response) -> list[list[str]]:
    data = streamed_body(response)
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(response) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(streamed_body(response)), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    header, *data = rows
    return [dict(zip(header, row, strict=True)) for row in data]


def list_all(client: APIClient, path: str) -> list[dict]:
    """Every row of a paginated list."""
    found, url = [], path
    while url:
        page = client.get(url).json()
        found += page["results"]
        url = page["next"]
    return found


def grant_full_personal_data(user: User) -> User:
    user.user_permissions.add(Permission.objects.get(codename="export_full_pii"))
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


@pytest.fixture
def systems(db) -> dict[str, list]:
    """Systems in each of the coordinator's alcaldías and in a foreign one, in two statuses."""
    own = [
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09007", application__status=Status.ACTIVE),
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09009", application__status=Status.NEEDS_MAINTENANCE),
        InstallationFactory(application__dwelling__colonia__alcaldia_id="09007", application__status=Status.ACTIVE),
    ]
    foreign = [
        InstallationFactory(application__dwelling__colonia__alcaldia_id=FOREIGN_ALCALDIA, application__status=Status.ACTIVE)
    ]
    return {"own": own, "foreign": foreign}


# --- Who may export ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXPORTS)
def test_technicians_may_not_export(technician, path):
    response = client_for(technician).get(path)

    assert response.status_code == 403
    assert not ExportLog.objects.exists()


@pytest.mark.parametrize("path", EXPORTS)
def test_anonymous_callers_may_not_export(db, path):
    assert client_for(None).get(path).status_code == 401


@pytest.mark.parametrize("path", EXPORTS)
def test_coordinators_and_administrators_export(coordinator, administrator, path):
    for user in (coordinator, administrator):
        response = client_for(user).get(path)
        assert response.status_code == 200, response
    assert ExportLog.objects.count() == 2


# --- The file --------------------------------------------------------------------------------------------------
def test_a_csv_export_is_an_uncacheable_utf8_attachment(coordinator, systems):
    response = client_for(coordinator).get("/api/v1/exports/installations.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="instalaciones-{timezone.localdate():%Y-%m-%d}.csv"'
    assert response["Cache-Control"] == "no-store"
    assert read_csv(response)[0] == MASKED_COLUMNS


def test_an_xlsx_export_opens_with_its_header_row(coordinator, systems):
    response = client_for(coordinator).get("/api/v1/exports/applications.xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == f'attachment; filename="solicitudes-{timezone.localdate():%Y-%m-%d}.xlsx"'
    assert response["Cache-Control"] == "no-store"
    header, *rows = read_xlsx(response)
    assert header == MASKED_COLUMNS
    assert len(rows) == 3


def test_a_client_asking_for_csv_gets_the_file_and_errors_still_come_as_json(coordinator, systems):
    client = client_for(coordinator)

    assert client.get("/api/v1/exports/installations.csv", HTTP_ACCEPT="text/csv").status_code == 200
    refused = client.get("/api/v1/exports/installations.csv?status=nada", HTTP_ACCEPT="text/csv")
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/json"


def test_formulas_in_the_data_are_escaped(administrator):
    InstallationFactory(
        application__applicant__first_name='=HYPERLINK("http://example.com","clic")',
        application__applicant__second_surname="@SUM(A1)",
    )

    [row] = as_dicts(read_csv(client_for(administrator).get("/api/v1/exports/installations.csv")))

    assert row["nombre"] == '\'=HYPERLINK("http://example.com","clic")'
    assert row["segundo_apellido"] == "'@SUM(A1)"


# --- Scope and filters -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["installations", "applications"])
def test_a_coordinator_exports_her_alcaldias_only(coordinator, systems, kind):
    rows = as_dicts(read_csv(client_for(coordinator).get(f"/api/v1/exports/{kind}.csv")))

    assert {row["folio_legado"] for row in rows} == {folio_display(s.application.folio) for s in systems["own"]}
    assert {row["alcaldia"] for row in rows} == {"Iztapalapa", "Milpa Alta"}


@pytest.mark.parametrize(
    ("kind", "query"),
    [
        ("installations", "status=active"),
        ("installations", "alcaldia=09009"),
        ("installations", "status=active&status=needs_maintenance&installed_on_after=2023-01-01"),
        ("applications", "status=active"),
        ("applications", "program_year=2023&modality=total_subsidy"),
    ],
)
def test_an_export_has_the_rows_of_the_list_with_the_same_filters(administrator, systems, kind, query):
    ApplicationFactory(status=Status.ACTIVE)  # a request without a system: only in the requests' list
    client = client_for(administrator)

    listed = list_all(client, f"/api/v1/{kind}/?{query}")
    exported = as_dicts(read_csv(client.get(f"/api/v1/exports/{kind}.csv?{query}")))

    assert listed  # the filter matches something
    assert sorted(row["folio_legado"] for row in exported) == sorted(folio_display(row["folio"]) for row in listed)
    log = ExportLog.objects.get()
    assert log.row_count == len(listed)
    assert log.filters == {name: values if len(values) > 1 else values[0] for name, values in parse_qs(query).items()}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=", "status"),
        ("status=nada", "status"),
        ("colonia=0.5", "colonia"),
        ("installed_on_after=ayer", "installed_on"),
        ("estatus=active", "estatus"),  # a mistyped filter is refused, never ignored
        ("page_size=10", "page_size"),
        ("full_personal_data=yes", "full_personal_data"),
        ("justification=", "justification"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(administrator, systems, query, field):
    response = client_for(administrator).get(f"/api/v1/exports/installations.csv?{query}")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not ExportLog.objects.exists()


# --- Personal data by permission (D2) --------------------------------------------------------------------------------
def test_a_coordinator_gets_curp_and_phone_masked_and_no_address(coordinator, systems):
    applicant = systems["own"][0].application.applicant

    rows = as_dicts(read_csv(client_for(coordinator).get("/api/v1/exports/installations.csv")))

    assert list(rows[0]) == MASKED_COLUMNS
    row = next(row for row in rows if row["folio_legado"] == folio_display(systems["own"][0].application.folio))
    assert row["curp"] == applicant.curp[:4] + "*" * 12 + applicant.curp[-2:]
    assert row["telefono"] == "******5678"
    log = ExportLog.objects.get()
    assert (log.full_personal_data, log.columns) == (False, MASKED_COLUMNS)


def test_a_coordinator_without_the_permission_may_not_ask_for_full_personal_data(coordinator, systems):
    response = client_for(coordinator).get(
        "/api/v1/exports/installations.csv", {"full_personal_data": "true", "justification": JUSTIFICATION}
    )

    assert response.status_code == 403
    assert not ExportLog.objects.exists()


def test_full_personal_data_needs_a_justification(administrator, systems):
    client = client_for(administrator)

    missing = client.get("/api/v1/exports/installations.csv", {"full_personal_data": "true"})
    short = client.get("/api/v1/exports/installations.csv", {"full_personal_data": "true", "justification": "  auditoría "})

    assert (missing.status_code, short.status_code) == (400, 400)
    assert list(short.json()["fields"]) == ["justification"]
    assert not ExportLog.objects.exists()


def test_an_administrator_with_a_justification_gets_every_column(administrator, systems):
    system = systems["foreign"][0]
    applicant, dwelling = system.application.applicant, system.dwelling

    response = client_for(administrator).get(
        "/api/v1/exports/installations.xlsx", {"full_personal_data": "true", "justification": JUSTIFICATION}
    )

    header, *rows = read_xlsx(response)
    assert header == COLUMN_NAMES
    row = dict(zip(header, next(r for r in rows if r[0] == folio_display(system.application.folio)), strict=True))
    assert (row["curp"], row["telefono"], row["calle_numero"]) == (applicant.curp, applicant.phone, dwelling.street_address)
    assert (row["latitud"], row["longitud"]) == (19.191, -99.023)
    log = ExportLog.objects.get()
    assert (log.full_personal_data, log.justification, log.columns, log.row_count) == (True, JUSTIFICATION, COLUMN_NAMES, 4)


def test_a_coordinator_granted_the_permission_gets_full_data_of_her_alcaldias_only(coordinator, systems):
    coordinator = grant_full_personal_data(coordinator)

    response = client_for(coordinator).get(
        "/api/v1/exports/applications.csv", {"full_personal_data": "true", "justification": JUSTIFICATION}
    )

    rows = as_dicts(read_csv(response))
    assert list(rows[0]) == COLUMN_NAMES
    assert {row["curp"] for row in rows} == {s.application.applicant.curp for s in systems["own"]}


def test_blocked_households_are_left_out(administrator, systems):
    blocked = systems["own"][0].application
    blocked.applicant.blocked_at = timezone.now()
    blocked.applicant.save()
    client = client_for(administrator)

    for kind in ("installations", "applications"):
        folios = {row["folio_legado"] for row in as_dicts(read_csv(client.get(f"/api/v1/exports/{kind}.csv")))}
        assert len(folios) == 3
        assert folio_display(blocked.folio) not in folios
    assert len(as_dicts(read_csv(client.get("/api/v1/exports/padron.csv")))) == 3


# --- The log (D3) ---------------------------------------------------------------------------------------------------------
def test_every_export_writes_exactly_one_log_row(coordinator, systems):
    client = client_for(coordinator)

    for number, path in enumerate(EXPORTS, start=1):
        response = client.get(path)
        streamed_body(response)
        assert ExportLog.objects.count() == number
        log = ExportLog.objects.order_by("-pk").first()
        assert (log.user, log.role, log.channel) == (coordinator, "coordinator", "api")
        assert log.row_count == 3
        assert response["X-Request-ID"] == log.request_id


# --- The padrón (H4) -------------------------------------------------------------------------------------------------------
def test_the_padron_export_carries_only_the_published_columns(administrator, systems):
    applicant = systems["own"][0].application.applicant

    response = client_for(administrator).get("/api/v1/exports/padron.csv", {"program_year": "2023"})

    rows = read_csv(response)
    assert rows[0] == ["nombre", "alcaldia", "colonia", "sexo", "edad", "beneficio"]
    assert len(rows) == 1 + 4
    assert applicant.curp not in str(rows)
    assert response["Content-Disposition"] == f'attachment; filename="padron-{timezone.localdate():%Y-%m-%d}.csv"'
    log = ExportLog.objects.get()
    assert (log.kind, log.filters, log.full_personal_data) == ("padron", {"program_year": 2023}, False)


@pytest.mark.parametrize("query", ["program_year=1999", "program_year=dos", "program_year=", "curp=1"])
def test_the_padron_refuses_a_bad_parameter(administrator, query):
    response = client_for(administrator).get(f"/api/v1/exports/padron.csv?{query}")

    assert response.status_code == 400
    assert not ExportLog.objects.exists()
