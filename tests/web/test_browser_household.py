"""A household in a real browser, on a phone: registers, keeps its receipt, checks its status (also
with JavaScript switched off), and reaches every field of the form with the keyboard alone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from installations.lifecycle import Status
from installations.models import Application, ProgramYear
from tests.factories import ApplicationFactory, EligibleColoniaFactory, StatusChangeFactory, make_curp
from tests.web.conftest import PHONE
from web.public_forms import RegistrationForm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def colonia(reference_data):
    open_year = ProgramYear.objects.order_by("-year").first()
    return EligibleColoniaFactory(program_year=open_year, colonia__name="San Lorenzo Tlacoyucan").colonia


def test_a_household_registers_on_its_phone_and_follows_its_request(browser_page, screenshot, colonia):
    page = browser_page(viewport=PHONE)
    page.goto("/")
    page.get_by_text("Milpa Alta (1)").click()  # the year's colonias, by alcaldía
    assert page.get_by_text("San Lorenzo Tlacoyucan").is_visible()
    screenshot(page, "home")
    page.get_by_role("link", name="Solicitar un sistema").first.click()

    # the form, filled in as a person would
    page.get_by_label("Nombre(s)").fill("Guadalupe")
    page.get_by_label("Primer apellido").fill("Gómez")
    page.get_by_label("CURP").fill(make_curp(8101).lower())
    page.get_by_label("Sexo").select_option(label="Mujer")
    page.get_by_label("Fecha de nacimiento").fill("1985-01-01")
    page.get_by_label("Teléfono").fill("5587654321")
    page.get_by_label("En mi hogar la jefatura es de una mujer").check()
    page.get_by_label("Colonia, pueblo o barrio").select_option(label="San Lorenzo Tlacoyucan")
    page.get_by_label("Calle y número").fill("Av. Nuevo León 12")
    page.get_by_label("¿Cuántas personas viven en la vivienda?").fill("5")
    page.get_by_label("¿Cómo le llega el agua?").select_option("tandeo")
    page.get_by_label("Días con agua por semana").fill("2")
    page.get_by_label("Material del techo").select_option("concreto")
    page.get_by_label("Superficie del techo (m²)").fill("40")
    page.get_by_role("button", name="Enviar solicitud").click()

    # without the consent: the error next to the box, a summary on top, nothing stored
    consent = page.get_by_label("He leído y acepto el aviso de privacidad")
    assert consent.get_attribute("aria-invalid") == "true"
    assert "Debe aceptar el aviso de privacidad" in page.get_by_role("alert").inner_text()
    assert not Application.objects.exists()
    screenshot(page, "form-errors")
    assert page.get_by_label("Calle y número").input_value() == "Av. Nuevo León 12"
    consent.check()
    page.get_by_role("button", name="Enviar solicitud").click()

    # the receipt
    page.get_by_role("heading", name="Su solicitud quedó registrada").wait_for()
    page.wait_for_load_state()
    folio = page.locator("#receipt-folio").inner_text().strip()
    code = page.locator("#receipt-code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", folio)
    assert re.fullmatch(r"\d{6}", code)
    assert page.locator("svg.qr").is_visible()
    expect(page.get_by_role("button", name="Imprimir comprobante")).to_be_visible()  # shown by its script
    assert code not in page.url
    assert Application.objects.filter(folio=folio.replace("-", "")).exists()
    screenshot(page, "receipt")

    # the status, from the receipt's link: the folio is filled in, the code is typed
    page.get_by_role("link", name="Consultar mi solicitud").last.click()
    assert page.get_by_label("Folio").input_value() == folio
    assert code not in page.url
    page.get_by_label("Código de verificación").fill(code)
    page.get_by_role("button", name="Consultar").click()

    page.get_by_role("heading", name="Historial de su solicitud").wait_for()
    assert page.locator(".status-now").inner_text().count("Registrada") == 1
    assert "Revisaremos su solicitud" in page.locator(".next-step").inner_text()
    assert page.locator(".timeline li").count() == 1
    assert "Guadalupe" not in page.content()
    screenshot(page, "status")


@pytest.fixture
def application(reference_data) -> Application:
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED, dwelling__colonia__alcaldia_id="09007")
    for to_status, day in ((Status.REGISTERED, 3), (Status.DOCUMENTS_COMPLETE, 10), (Status.VISIT_SCHEDULED, 17)):
        StatusChangeFactory(application=application, to_status=to_status, changed_at=datetime(2025, 3, day, 17, tzinfo=UTC))
    Application.objects.filter(pk=application.pk).update(status_changed_at=datetime(2025, 3, 17, 17, tzinfo=UTC))
    return application


def test_the_status_lookup_works_with_javascript_switched_off(browser, live_server, screenshot, application):
    context = browser.new_context(viewport=PHONE, locale="es-MX", base_url=live_server.url, java_script_enabled=False)
    foreign: list[str] = []
    own_host = urlsplit(live_server.url).netloc

    def guard(route) -> None:  # the same rule as the browser_page fixture: nothing from another host
        if urlsplit(route.request.url).netloc == own_host or route.request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    try:
        page = context.new_page()
        page.goto("/estado/")
        page.get_by_label("Folio").fill(application.folio_display.lower())
        page.get_by_label("Código de verificación").fill("654321")
        page.get_by_role("button", name="Consultar").click()
        assert "No encontramos una solicitud con ese folio" in page.get_by_role("alert").first.inner_text()

        page.get_by_label("Código de verificación").fill("123456")
        page.get_by_role("button", name="Consultar").click()
        page.get_by_role("heading", name="Historial de su solicitud").wait_for()
        steps = page.locator(".timeline li strong").all_inner_texts()
        assert steps == ["Registrada", "Documentos completos", "Visita técnica programada"]
        assert page.locator(".timeline li .when").last.inner_text() == "17 de marzo de 2025"
        page.wait_for_load_state()
        assert "Reciba al personal técnico" in page.locator(".next-step").inner_text()
        screenshot(page, "status-no-js")
    finally:
        context.close()
    assert not foreign, f"pages asked for other hosts than the app's own: {foreign}"


def test_every_registration_field_is_reached_with_the_keyboard_and_has_a_label(browser_page, colonia):
    page = browser_page(viewport=PHONE)
    page.goto("/solicitar/")
    wanted = {f"id_{name}" for name in RegistrationForm.base_fields}
    reached: list[str] = []
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => ({id: document.activeElement.id, tag: document.activeElement.tagName,"
            " labels: document.activeElement.labels ? document.activeElement.labels.length : 0,"
            " text: document.activeElement.textContent})"
        )
        if focused["tag"] == "SUMMARY" and "Ubicación" in focused["text"]:
            page.keyboard.press("Enter")  # open the optional location section, as a keyboard user would
        if focused["id"] in wanted:
            assert focused["labels"] >= 1, f"{focused['id']} has no label"
            reached.append(focused["id"])
        if focused["tag"] == "BUTTON" and "Enviar" in focused["text"]:
            break
    assert set(reached) == wanted
    assert reached.index("id_first_name") < reached.index("id_colonia") < reached.index("id_privacy_consent")
