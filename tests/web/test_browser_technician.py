"""A technician on her phone, in a real browser: sign in, the worklist nearest first, a visit, an installation."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from PIL import Image
from playwright.sync_api import expect

from installations.lifecycle import Status
from installations.models import Application, FieldPhoto, Installation, TechnicalVisit
from tests.factories import InstallerFactory, UserFactory
from tests.web.conftest import PHONE
from tests.web.test_field import NEAR_ZAPOTITLAN, SAN_JUAN_IXTAYOPAN, gps_jpeg, scheduled_installation, scheduled_visit

pytestmark = pytest.mark.django_db(transaction=True)

NARROW = {"width": 360, "height": 740}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def reference_data(transactional_db):
    """A transactional test starts from an empty database (the previous one flushed it): reload the reference rows."""
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)


def has_no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_a_technician_records_a_visit_and_an_installation_from_her_phone(browser_page, screenshot, tmp_path: Path):
    # given: a visit to a farther home and an installation next to where she stands
    technician = UserFactory(username="tecnica")
    visit = scheduled_visit(technician, days_ago=1, position=NEAR_ZAPOTITLAN, street="Calle Tláloc 12")
    application = scheduled_installation(technician, position=SAN_JUAN_IXTAYOPAN)
    InstallerFactory(name="Isla Urbana")
    here = {"latitude": 19.2585, "longitude": -99.0145, "accuracy": 12}
    page = browser_page(viewport=PHONE, geolocation=here)

    # when: she signs in
    page.goto("/entrar/")
    page.get_by_label("Usuario").fill("tecnica")
    page.get_by_label("Contraseña").fill("contraseña-de-prueba")
    page.get_by_role("button", name="Entrar").click()

    # then: her worklist, nearest first (the phone already allowed its location)
    expect(page).to_have_url(re.compile(r"/campo/"))
    expect(page.get_by_text("Ordenada por cercanía a su ubicación.")).to_be_visible()
    tasks = page.locator(".tasks .task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0)).to_contain_text("Instalación")
    expect(tasks.nth(1)).to_contain_text("Visita técnica")
    expect(tasks.nth(1)).to_contain_text("Calle Tláloc 12")
    assert tasks.nth(0).bounding_box()["height"] >= 48
    assert has_no_horizontal_scroll(page)
    screenshot(page, "worklist")

    # when: she records the technical visit, with the phone's location and a photo
    tasks.nth(1).click()
    expect(page.get_by_role("heading", name="Visita técnica")).to_be_visible()
    expect(page.locator("[data-gps-reading]")).to_contain_text("precisión ± 12 m")
    page.get_by_label("Material del techo").select_option("concreto")
    page.get_by_label("Superficie del techo medida (m²)").fill("48.5")
    page.get_by_label("Viable con adecuaciones").check()
    page.get_by_label("Adecuaciones requeridas").fill("Reforzar la base del tinaco.")
    photo = tmp_path / "techo.jpg"
    photo.write_bytes(gps_jpeg(size=(2400, 1800)))
    page.get_by_label("Fotos").set_input_files(str(photo))
    expect(page.locator("[data-photo-status]")).to_have_text("Fotos listas: 1.")
    screenshot(page, "visit-form")
    page.set_viewport_size(NARROW)
    assert has_no_horizontal_scroll(page)
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Guardar visita").click()

    # then: back on the worklist with a message, and the visit is gone from it
    expect(page.get_by_role("status")).to_contain_text("Visita técnica del folio")
    expect(page.get_by_text("Ordenada por cercanía a su ubicación.")).to_be_visible()
    expect(page.locator(".tasks .task")).to_have_count(1)
    visit.refresh_from_db()
    assert visit.outcome == TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS
    # The mocked reading is on the record, with its accuracy; the photo is a FieldPhoto, shrunk and without EXIF.
    assert (visit.gps_latitude, visit.gps_longitude, visit.gps_accuracy_m) == (
        Decimal("19.258500"),
        Decimal("-99.014500"),
        Decimal("12.0"),
    )
    photo = FieldPhoto.objects.get(technical_visit=visit)
    assert max(photo.width, photo.height) <= 1600
    with Image.open(photo.image.path) as stored:
        assert stored.format == "JPEG"
        assert len(stored.getexif()) == 0

    # when: she records the installation
    page.locator(".tasks .task").first.click()
    expect(page.get_by_role("heading", name="Instalación")).to_be_visible()
    page.set_viewport_size(NARROW)
    assert has_no_horizontal_scroll(page)
    page.set_viewport_size(PHONE)
    expect(page.locator("[data-gps-reading]")).to_contain_text("Ubicación tomada")
    page.get_by_label("Instaladora").select_option(label="Isla Urbana")
    page.get_by_label("Canaleta", exact=True).check()
    page.get_by_label("Medida de Canaleta, metros").fill("7.5")
    page.get_by_label("Se impartió la capacitación de uso y mantenimiento").check()
    screenshot(page, "installation-form")
    page.get_by_role("button", name="Guardar instalación").click()

    # then: the worklist is empty and the request is installed
    expect(page.get_by_role("status")).to_contain_text("Instalación del folio")
    expect(page.locator(".tasks .task")).to_have_count(0)
    expect(page.get_by_text("No tiene pendientes para hoy.")).to_be_visible()
    expect(page.locator("[data-nearest]")).to_have_count(0)
    screenshot(page, "worklist-done")
    installation = Installation.objects.get(application=application)
    assert {part.kind for part in installation.components.all()} >= {"canaleta", "tinaco", "tlaloque"}
    assert Application.objects.get(pk=application.pk).status == Status.INSTALLED
    assert installation.gps_accuracy_m == Decimal("12.0")
    assert installation.gps_latitude == Decimal("19.258500")


def test_field_errors_show_next_to_the_field_on_a_narrow_phone(browser_page, screenshot):
    technician = UserFactory(username="tecnica")
    visit = scheduled_visit(technician)
    page = browser_page(viewport=NARROW, geolocation={"latitude": 19.296, "longitude": -99.034, "accuracy": 30})
    page.goto("/entrar/")
    page.get_by_label("Usuario").fill("tecnica")
    page.get_by_label("Contraseña").fill("contraseña-de-prueba")
    page.get_by_role("button", name="Entrar").click()
    expect(page.locator(".tasks .task")).to_have_count(1)

    page.goto(f"/campo/visitas/{visit.pk}/")
    expect(page.locator("[data-gps-reading]")).to_contain_text("Ubicación tomada")
    page.get_by_role("button", name="Guardar visita").click()

    expect(page.get_by_role("alert")).to_contain_text("No se guardó nada")
    expect(page.locator("#id_outcome .errorlist")).to_contain_text("Este campo es requerido.")
    assert has_no_horizontal_scroll(page)
    screenshot(page, "visit-errors")
    visit.refresh_from_db()
    assert visit.outcome is None
