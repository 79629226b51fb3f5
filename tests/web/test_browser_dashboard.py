"""A coordinator's dashboard in a real browser: the same figures as the API, the map, a refresh, a large download.

The snapshot is compiled in the test's process (no worker); the figures on the page are compared with
``GET /api/v1/coverage/`` for the same filters, read through Django's test client as the same user.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from coverage.services import coverage_compile_inline
from installations.models import Modality
from tests.coverage.seeded import compile_now
from tests.factories import ColoniaFactory, InstallationFactory
from tests.web.conftest import DESK, PHONE
from worker.models import Job, JobKind, JobState
from worker.tasks.exports import legacy_export_task

pytestmark = pytest.mark.django_db(transaction=True)


ROW_FIGURES = ("applications", "installations", "systems_active", "harvest_litres", "maintenance_overdue")


def seed() -> None:
    """Systems spread over the coordinator's two alcaldías (and one in an alcaldía she does not cover)."""
    places = [("09009", "19.19", "-99.02"), ("09007", "19.35", "-99.06"), ("09005", "19.48", "-99.11")]
    for n in range(12):
        code, lat, lon = places[n % 3]
        InstallationFactory(
            application__dwelling__colonia=ColoniaFactory(alcaldia_id=code),
            application__dwelling__latitude=Decimal(lat) + Decimal(n) / 1000,
            application__dwelling__longitude=Decimal(lon) - Decimal(n) / 1000,
            application__modality=Modality.PARTIAL_SUBSIDY if n % 4 == 0 else Modality.TOTAL_SUBSIDY,
            application__applicant__woman_headed_household=n % 3 != 1,
            installed_on=f"2023-{1 + n % 6:02d}-15",
        )


def api(user: Any, query: str = "") -> list[dict[str, Any]]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/api/v1/coverage/?{query}")
    assert response.status_code == 200
    return response.json()["results"]


def sign_in(page: Any, username: str) -> None:
    page.goto("/entrar/")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill("contraseña-de-prueba")
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/tablero/**")


def page_figures(page: Any) -> tuple[int, dict[str, dict[str, int]]]:
    headline = int(page.locator('.headline [data-figure="installations"]').get_attribute("data-value"))
    rows = {}
    for row in page.locator("tr[data-alcaldia]").all():
        rows[row.get_attribute("data-alcaldia")] = {
            name: int(row.locator(f'[data-figure="{name}"]').get_attribute("data-value")) for name in ROW_FIGURES
        }
    return headline, rows


def api_figures(results: list[dict[str, Any]]) -> tuple[int, dict[str, dict[str, int]]]:
    headline = sum(r["totals"]["installations"] for r in results)
    rows = {r["alcaldia"]["cvegeo"]: {name: r["totals"][name] for name in ROW_FIGURES} for r in results}
    return headline, rows


def test_a_coordinators_dashboard_shows_the_same_figures_as_the_api(browser_page, screenshot, coordinator):
    seed()
    compile_now()
    page = browser_page(viewport=DESK)

    sign_in(page, coordinator.username)

    assert page.locator("html").get_attribute("lang") == "es-mx"
    assert page.get_by_role("heading", name="Tablero de cobertura").is_visible()
    assert page_figures(page) == api_figures(api(coordinator))
    assert sorted(page_figures(page)[1]) == ["09007", "09009"]
    # The map: clusters or markers of her systems only, on a blank map.
    page.wait_for_selector('#mapa[data-ready="yes"]', state="attached")
    assert page.locator("#mapa").get_attribute("data-points") == "8"
    assert page.locator("#mapa .marker-cluster, #mapa .map-dot").count() > 0
    assert "8 sistemas" in page.locator("#mapa-estado").inner_text()
    screenshot(page, "desk")
    page.locator("#mapa").scroll_into_view_if_needed()
    screenshot(page, "map")

    # Filters swap the figures in place (htmx) and still match the API.
    page.get_by_label("Alcaldía", exact=True).select_option("09007")
    page.wait_for_url("**alcaldia=09007**")
    page.wait_for_selector('#mapa[data-ready="yes"]', state="attached")
    assert page_figures(page) == api_figures(api(coordinator, "alcaldia=09007"))
    page.get_by_label("Modalidad", exact=True).select_option(Modality.TOTAL_SUBSIDY)
    page.wait_for_url("**modality=total_subsidy**")
    assert page_figures(page) == api_figures(api(coordinator, "alcaldia=09007&modality=total_subsidy"))
    screenshot(page, "filtered")


def test_refresh_shows_its_progress_and_then_the_new_figures(browser_page, screenshot, coordinator):
    seed()
    compile_now()
    page = browser_page(viewport=PHONE)
    sign_in(page, coordinator.username)
    before = page_figures(page)[0]
    InstallationFactory.create_batch(3, application__dwelling__colonia=ColoniaFactory(alcaldia_id="09009"))

    page.get_by_role("button", name="Actualizar cifras").click()

    page.wait_for_selector("#progreso >> text=Actualizando las cifras")
    screenshot(page, "queued")
    job = Job.objects.get(state=JobState.QUEUED)
    coverage_compile_inline(job)  # what a worker does
    page.wait_for_selector("#progreso >> text=Cifras actualizadas.")
    page.wait_for_function(
        "n => document.querySelector('.headline [data-figure=installations]').dataset.value == n", arg=str(before + 3)
    )
    assert page_figures(page) == api_figures(api(coordinator))
    screenshot(page, "refreshed")


def test_a_large_download_shows_its_progress_and_then_the_file(browser_page, screenshot, coordinator, settings, tmp_path):
    settings.HARVEST_EXPORT_SYNC_MAX_ROWS = 1  # every export here goes to the worker
    settings.HARVEST_EXPORTS_DIR = tmp_path / "exports"
    seed()
    compile_now()
    page = browser_page(viewport=PHONE)
    sign_in(page, coordinator.username)

    page.get_by_role("link", name="CSV — Instalaciones").click()

    page.wait_for_url("**/tablero/descargas/**")
    page.wait_for_selector("#exportacion >> text=Preparando el archivo")
    screenshot(page, "export-queued")
    job = Job.objects.get(kind=JobKind.EXPORT)
    legacy_export_task(job.pk.hex)  # what a worker does
    link = page.get_by_role("link", name=re.compile(r"^Descargar instalaciones-"))
    link.wait_for()
    screenshot(page, "export-ready")
    with page.expect_download() as download:
        link.click()
    rows = Path(download.value.path()).read_text(encoding="utf-8-sig").strip().splitlines()
    assert len(rows) == 1 + 8  # header + her eight systems
