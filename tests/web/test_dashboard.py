"""The managers' dashboard through Django's test client: access, filters, scoping, map points, refresh, downloads.

The figures come from the latest snapshot's slices; these tests compare them with what the API
serves for the same filters (``GET /api/v1/coverage/``), so the page and the API cannot drift apart.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from coverage.models import CoverageSnapshot
from coverage.services import coverage_compile_inline
from installations.models import Modality
from legacy.models import ExportLog
from legacy.rows import COLUMN_NAMES
from tests.clients import client_for, streamed_body
from tests.coverage.seeded import compile_now
from tests.factories import ApplicationFactory, ColoniaFactory, InstallationFactory
from worker.models import Job, JobKind, JobState
from worker.tasks.exports import legacy_export_task

DASHBOARD = "/tablero/"
MAP = "/tablero/mapa.json"
REFRESH = "/tablero/actualizar/"
DOWNLOAD = "/tablero/descargar"
MASKED_COLUMNS = [name for name in COLUMN_NAMES if name not in {"calle_numero", "latitud", "longitud"}]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def program(db) -> None:
    """Systems in the coordinator's two alcaldías (09009, 09007) and in one she does not cover (09005)."""
    for code, latitude in (("09009", "19.191234"), ("09007", "19.355678"), ("09005", "19.480000")):
        colonia = ColoniaFactory(alcaldia_id=code)
        ApplicationFactory(dwelling__colonia=colonia)
        InstallationFactory(application__dwelling__colonia=colonia, application__dwelling__latitude=Decimal(latitude))
    InstallationFactory(
        application__dwelling__colonia=ColoniaFactory(alcaldia_id="09007"),
        application__modality=Modality.PARTIAL_SUBSIDY,
        application__dwelling__latitude=Decimal("19.350000"),
    )


@pytest.fixture
def snapshot(program) -> CoverageSnapshot:
    return compile_now()


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def figure(html: str, name: str) -> int:
    """A headline figure's exact value (the data-value next to the formatted one)."""
    found = re.search(rf'class="value" data-figure="{name}" data-value="([^"]*)"', html)
    assert found, f"no headline figure {name}"
    return int(found.group(1))


def table_rows(html: str) -> dict[str, dict[str, int]]:
    """The table by alcaldía: cvegeo → {figure: value}."""
    rows = {}
    for code, body in re.findall(r'<tr data-alcaldia="(\d{5})">(.*?)</tr>', html, flags=re.S):
        rows[code] = {name: int(value) for name, value in re.findall(r'data-figure="(\w+)" data-value="(\d+)"', body)}
    return rows


def api_results(user: Any, query: str = "") -> list[dict[str, Any]]:
    response = client_for(user).get(f"/api/v1/coverage/?{query}")
    assert response.status_code == 200
    return response.json()["results"]


# --- Access -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [DASHBOARD, MAP])
def test_signing_in_is_required(db, url):
    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/entrar/?next=")


@pytest.mark.parametrize(("method", "url"), [("get", DASHBOARD), ("get", MAP), ("post", REFRESH)])
def test_technicians_are_refused(technician, method, url):
    response = getattr(signed_in(technician), method)(url)

    assert response.status_code == 403
    assert not Job.objects.exists()


def test_technicians_cannot_follow_a_compile(technician):
    job = Job.objects.create(kind=JobKind.COVERAGE_FULL, lane="coverage")

    assert signed_in(technician).get(f"/tablero/trabajos/{job.pk}/").status_code == 403


# --- Figures ------------------------------------------------------------------------------------------
def test_before_the_first_compile_the_page_says_there_are_no_figures_yet(program, coordinator):
    response = signed_in(coordinator).get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Todavía no hay cifras" in html
    assert 'id="mapa"' in html  # the map and the downloads work without a snapshot


def test_an_administrator_sees_the_city_as_the_api_serves_it(snapshot, administrator):
    html = signed_in(administrator).get(DASHBOARD).content.decode()

    [city] = api_results(administrator)
    for name in ("installations", "systems_active", "harvest_litres", "people_served", "maintenance_overdue"):
        assert figure(html, name) == city["totals"][name]
    assert table_rows(html) == {
        row["alcaldia"]: {
            key: row[key] for key in ("applications", "installations", "systems_active", "harvest_litres", "maintenance_overdue")
        }
        for row in city["by_alcaldia"]
    }
    assert "Iztapalapa" in html and "Milpa Alta" in html


def test_a_coordinator_sees_her_alcaldias_only_and_their_sum(snapshot, coordinator):
    html = signed_in(coordinator).get(DASHBOARD).content.decode()

    results = api_results(coordinator)
    assert sorted(table_rows(html)) == ["09007", "09009"]
    assert figure(html, "installations") == sum(r["totals"]["installations"] for r in results) == 3
    for result in results:
        assert table_rows(html)[result["alcaldia"]["cvegeo"]]["installations"] == result["totals"]["installations"]
    woman_headed = sum(row["installations"] for r in results for row in r["by_woman_headed"] if row["woman_headed"])
    assert figure(html, "woman_headed_percent") == woman_headed


def test_the_coordinators_alcaldia_choices_are_hers_only(snapshot, coordinator):
    html = signed_in(coordinator).get(DASHBOARD).content.decode()

    choices = re.findall(r'<option value="(\d{5})"', html)
    assert choices == ["09007", "09009"]
    assert "Todas mis alcaldías" in html


@pytest.mark.parametrize(
    "query",
    [
        "program_year=2023",
        "alcaldia=09007",
        "modality=partial_subsidy_50",
        "program_year=2023&alcaldia=09007&modality=total_subsidy",
    ],
)
def test_the_filters_show_the_same_figures_as_the_api(snapshot, administrator, query):
    html = signed_in(administrator).get(f"{DASHBOARD}?{query}").content.decode()

    [result] = api_results(administrator, query)
    assert figure(html, "installations") == result["totals"]["installations"]
    assert figure(html, "systems_active") == result["totals"]["systems_active"]


def test_empty_filters_mean_everything(snapshot, administrator):
    html = signed_in(administrator).get(f"{DASHBOARD}?program_year=&alcaldia=&modality=").content.decode()

    assert figure(html, "installations") == api_results(administrator)[0]["totals"]["installations"] == 4


def test_the_citys_target_shows_its_progress(snapshot, administrator):
    html = signed_in(administrator).get(f"{DASHBOARD}?program_year=2023").content.decode()

    [result] = api_results(administrator, "program_year=2023")
    assert result["target"]["systems"]
    assert f'data-figure="target_percent" data-value="{result["target"]["progress"]}"' in html
    assert "sistemas instalados de una meta de" in html


def test_a_coordinator_asking_for_another_alcaldia_gets_an_error_naming_the_field(snapshot, coordinator):
    response = signed_in(coordinator).get(f"{DASHBOARD}?alcaldia=09005")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Alcaldía</a>: Elija una de las alcaldías que puede consultar." in html
    assert 'data-alcaldia="09005"' not in html


def test_an_unknown_year_is_an_error_naming_the_field(snapshot, administrator):
    response = signed_in(administrator).get(f"{DASHBOARD}?program_year=1999")

    assert response.status_code == 400
    assert "Año del programa</a>: Elija uno de los años del programa." in response.content.decode()


def test_htmx_aimed_at_the_figures_gets_the_figures_only(snapshot, administrator):
    response = signed_in(administrator).get(f"{DASHBOARD}?program_year=2023", headers={**HTMX, "HX-Target": "cifras"})

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="cifras"')
    assert "<html" not in html
    assert 'hx-get="/tablero/?program_year=2023"' in html  # reloads with the same filters after a refresh


def test_the_page_reads_a_handful_of_rows_whatever_the_number_of_systems(snapshot, coordinator, django_assert_num_queries):
    client = signed_in(coordinator)
    # session, user, her alcaldías, program years, latest snapshot, its slices, the active compile
    with django_assert_num_queries(7):
        assert client.get(DASHBOARD).status_code == 200

    InstallationFactory.create_batch(20, application__dwelling__colonia=ColoniaFactory(alcaldia_id="09009"))
    compile_now()
    with django_assert_num_queries(7):
        html = client.get(DASHBOARD).content.decode()
    assert figure(html, "installations") == 23


def test_downloads_link_the_dashboards_export_with_the_filters(snapshot, coordinator):
    html = signed_in(coordinator).get(f"{DASHBOARD}?program_year=2023&alcaldia=09007").content.decode()

    assert 'href="/tablero/descargar/installations.csv?program_year=2023&amp;alcaldia=09007"' in html
    assert 'href="/tablero/descargar/applications.xlsx?program_year=2023&amp;alcaldia=09007"' in html
    assert 'href="/tablero/descargar/padron.xlsx?program_year=2023"' in html  # the padrón: by year only
    assert "solo se piden por la API o la administración" in html


def test_a_small_export_streams_the_masked_file_with_the_filters_and_logs_it_once(snapshot, coordinator):
    response = signed_in(coordinator).get(f"{DOWNLOAD}/installations.csv?alcaldia=09007&modality=total_subsidy")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="instalaciones-')
    assert response["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(streamed_body(response).decode("utf-8-sig"))))
    assert rows[0] == MASKED_COLUMNS  # masked: no address columns
    assert [row[rows[0].index("alcaldia")] for row in rows[1:]] == ["Iztapalapa"]  # 09007, full subsidy: one system
    assert "*" in rows[1][rows[0].index("curp")]
    log = ExportLog.objects.get()
    assert (log.user, log.kind, log.format, log.row_count, log.full_personal_data) == (
        coordinator,
        "installations",
        "csv",
        1,
        False,
    )
    assert log.filters == {"alcaldia": "09007", "modality": "total_subsidy"}
    assert not Job.objects.filter(kind=JobKind.EXPORT).exists()


def test_the_padron_and_xlsx_come_at_once_too(snapshot, administrator):
    client = signed_in(administrator)

    padron = client.get(f"{DOWNLOAD}/padron.csv?program_year=2023")
    workbook = client.get(f"{DOWNLOAD}/applications.xlsx")

    assert padron.status_code == workbook.status_code == 200
    assert streamed_body(padron).decode("utf-8-sig").startswith("nombre,alcaldia,colonia,sexo,edad,beneficio")
    assert workbook["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert ExportLog.objects.count() == 2


def test_a_large_export_is_queued_and_its_page_follows_it_to_the_download(snapshot, coordinator, settings, tmp_path):
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 1
    settings.HARVEST_EXPORTS_DIR = tmp_path / "exports"
    client = signed_in(coordinator)

    response = client.get(f"{DOWNLOAD}/installations.csv?alcaldia=09007")

    job = Job.objects.get(kind=JobKind.EXPORT)
    assert (job.created_by, job.state, job.parameters["query"]) == (coordinator, JobState.QUEUED, {"alcaldia": ["09007"]})
    assert response.status_code == 302
    assert response["Location"] == f"/tablero/descargas/{job.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Preparando el archivo" in page
    assert f'hx-get="/tablero/descargas/{job.pk}/"' in page and 'hx-trigger="every 2s"' in page
    assert not ExportLog.objects.exists()

    legacy_export_task(job.pk.hex)  # the worker, run eagerly
    fragment = client.get(f"/tablero/descargas/{job.pk}/", headers=HTMX).content.decode()

    assert "every 2s" not in fragment
    assert f'href="/api/v1/exports/files/{job.pk}/"' in fragment
    download = client.get(f"/api/v1/exports/files/{job.pk}/")  # the session is enough for the API
    assert download.status_code == 200
    assert len(streamed_body(download).decode("utf-8-sig").strip().splitlines()) == 1 + 2
    assert ExportLog.objects.get().row_count == 2


def test_an_export_page_is_its_owners_only(snapshot, coordinator, administrator, settings, tmp_path):
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 1
    settings.HARVEST_EXPORTS_DIR = tmp_path / "exports"
    signed_in(coordinator).get(f"{DOWNLOAD}/applications.csv")
    job = Job.objects.get(kind=JobKind.EXPORT)

    assert signed_in(administrator).get(f"/tablero/descargas/{job.pk}/").status_code == 404


def test_technicians_cannot_export(snapshot, technician):
    assert signed_in(technician).get(f"{DOWNLOAD}/installations.csv").status_code == 403
    assert not ExportLog.objects.exists()


def test_a_coordinator_cannot_export_another_alcaldia(snapshot, coordinator):
    response = signed_in(coordinator).get(f"{DOWNLOAD}/installations.csv?alcaldia=09005")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Alcaldía: Elija una de las alcaldías que puede consultar." in html
    assert not ExportLog.objects.exists() and not Job.objects.filter(kind=JobKind.EXPORT).exists()


def test_an_unknown_export_is_not_found(snapshot, administrator):
    assert signed_in(administrator).get(f"{DOWNLOAD}/curps.csv").status_code == 404
    assert signed_in(administrator).get(f"{DOWNLOAD}/installations.pdf").status_code == 404


# --- The map ------------------------------------------------------------------------------------------
def test_the_map_gives_rounded_coordinates_of_the_coordinators_alcaldias_only(program, coordinator):
    response = signed_in(coordinator).get(MAP)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"points", "capped", "limit"}
    assert sorted(body["points"]) == [[19.191, -99.023], [19.35, -99.023], [19.356, -99.023]]
    assert body["capped"] is False
    assert response["Cache-Control"] == "no-store"


def test_the_map_follows_the_filters(program, coordinator):
    body = signed_in(coordinator).get(f"{MAP}?alcaldia=09007&modality=partial_subsidy_50").json()

    assert body["points"] == [[19.35, -99.023]]


def test_the_map_leaves_out_removed_systems_and_dwellings_without_coordinates(db, administrator):
    InstallationFactory(removed_on="2023-06-01", application__status="removed")
    InstallationFactory(application__dwelling__latitude=None, application__dwelling__longitude=None)

    assert signed_in(administrator).get(MAP).json()["points"] == []


def test_the_map_is_capped_to_the_most_recent_systems(program, administrator, monkeypatch):
    monkeypatch.setattr("web.dashboard.MAP_POINTS_LIMIT", 2)
    newest = InstallationFactory(installed_on="2024-01-10", application__dwelling__latitude=Decimal("19.300000"))

    body = signed_in(administrator).get(MAP).json()

    assert body["capped"] is True
    assert body["limit"] == 2
    assert len(body["points"]) == 2
    assert body["points"][0] == [float(newest.dwelling.latitude), -99.023]


def test_the_map_refuses_another_alcaldia(program, coordinator):
    response = signed_in(coordinator).get(f"{MAP}?alcaldia=09005")

    assert response.status_code == 400
    assert "alcaldia" in response.json()["errors"]


# --- Refresh and progress -----------------------------------------------------------------------------
def test_refresh_queues_one_compile_and_answers_htmx_with_its_progress(snapshot, coordinator):
    client = signed_in(coordinator)

    first = client.post(REFRESH, headers=HTMX)
    second = client.post(REFRESH, headers=HTMX)

    job = Job.objects.get(state=JobState.QUEUED)
    assert (job.kind, job.created_by) == (JobKind.COVERAGE_FULL, coordinator)
    for response in (first, second):
        html = response.content.decode()
        assert response.status_code == 200
        assert f'hx-get="/tablero/trabajos/{job.pk}/"' in html
        assert 'hx-trigger="every 2s"' in html
        assert "En cola" in html


def test_refresh_without_javascript_comes_back_to_the_page_with_its_filters(snapshot, coordinator):
    client = signed_in(coordinator)

    response = client.post(REFRESH, {"program_year": "2023", "alcaldia": "", "modality": ""})

    assert response.status_code == 302
    assert response["Location"] == "/tablero/?program_year=2023"
    html = client.get(response["Location"]).content.decode()
    assert "Se pidió actualizar las cifras" in html
    assert "Actualizando las cifras" in html  # the compile under way shows on the page


def test_refresh_needs_the_csrf_token(snapshot, coordinator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)

    assert client.post(REFRESH).status_code == 403
    assert not Job.objects.filter(state=JobState.QUEUED).exists()


def test_refresh_is_a_post(snapshot, coordinator):
    assert signed_in(coordinator).get(REFRESH).status_code == 405


def test_the_progress_fragment_follows_the_job_and_asks_for_the_figures_once_it_succeeds(snapshot, coordinator):
    client = signed_in(coordinator)
    client.post(REFRESH, headers=HTMX)
    job = Job.objects.get(state=JobState.QUEUED)

    queued = client.get(f"/tablero/trabajos/{job.pk}/", headers=HTMX)
    coverage_compile_inline(job)
    done = client.get(f"/tablero/trabajos/{job.pk}/", headers=HTMX)

    assert "HX-Trigger" not in queued
    assert "every 2s" in queued.content.decode()
    assert done["HX-Trigger"] == "cobertura-actualizada"
    assert "Cifras actualizadas." in done.content.decode()
    assert "every 2s" not in done.content.decode()


def test_the_progress_of_an_export_job_is_not_shown(db, coordinator):
    job = Job.objects.create(kind=JobKind.EXPORT, lane="export", created_by=coordinator)

    assert signed_in(coordinator).get(f"/tablero/trabajos/{job.pk}/").status_code == 404
