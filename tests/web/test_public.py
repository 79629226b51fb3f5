"""The households' pages through Django's test client (no JavaScript): the program, the request and its
receipt, the status lookup (found, not found, throttled) and the privacy notice."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.test import Client

from api.models import RateCounter
from installations.identifiers import folio_normalize, verification_code_matches
from installations.lifecycle import NEXT_STEP, Status
from installations.models import Applicant, Application, Dwelling, Modality, ProgramYear, StatusChange
from tests.factories import (
    ApplicationFactory,
    ColoniaFactory,
    EligibleColoniaFactory,
    StatusChangeFactory,
    make_curp,
)
from web.public import not_found_message, status_qr_svg
from web.public_forms import RegistrationForm

CURP = make_curp(7301)
CODE = "123456"  # the factories' verification code
CLIENT_IP = "203.0.113.9"


@pytest.fixture(autouse=True)
def fresh_counters(db, settings):
    """Counters may live in Redis, which no test transaction rolls back."""
    settings.HARVEST_NUM_PROXIES = 0
    cache.clear()
    RateCounter.objects.all().delete()
    yield
    cache.clear()


@pytest.fixture
def client() -> Client:
    return Client(REMOTE_ADDR=CLIENT_IP)


@pytest.fixture
def open_year(db) -> ProgramYear:
    return ProgramYear.objects.order_by("-year").first()


@pytest.fixture
def colonia(open_year):
    return EligibleColoniaFactory(program_year=open_year, colonia__name="San Lorenzo Tlacoyucan").colonia


def registration(colonia, **overrides: object) -> dict[str, object]:
    return {
        "privacy_consent": "on",
        "first_name": "Guadalupe",
        "first_surname": "Gómez",
        "second_surname": "Martínez",
        "curp": CURP,
        "sex": "M",
        "birth_date": "1985-01-01",
        "phone": "5587654321",
        "email": "",
        "woman_headed_household": "on",
        "colonia": str(colonia.pk),
        "street_address": "Av. Nuevo León 12",
        "postal_code": "12000",
        "latitude": "",
        "longitude": "",
        "occupants": "5",
        "water_supply": "tandeo",
        "tandeo_days_per_week": "2",
        "roof_material": "concreto",
        "roof_area_m2": "40",
        "existing_storage_litres": "",
    } | overrides


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Applicant, Dwelling, Application, StatusChange)}


def field_error(html: str, name: str) -> str:
    """The error shown next to field ``name`` (Django renders it with the id the input points to)."""
    match = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


def urls_in(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


# --- The program's page -------------------------------------------------------------------------------
def test_the_public_page_lists_this_years_colonias_by_alcaldia(client, open_year):
    # given
    EligibleColoniaFactory(program_year=open_year, colonia__name="Villa Milpa Alta", colonia__alcaldia_id="09009")
    EligibleColoniaFactory(
        program_year=open_year,
        colonia__name="Santa Catarina",
        colonia__alcaldia_id="09007",
        modality=Modality.PARTIAL_SUBSIDY,
    )
    EligibleColoniaFactory(program_year=ProgramYear.objects.get(year=2023), colonia__name="Colonia de otro año")
    # when
    response = client.get("/")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert f"programa {open_year.year}" in html
    assert "Milpa Alta" in html and "Villa Milpa Alta" in html
    assert "Iztapalapa" in html and "Santa Catarina" in html
    assert html.index("Iztapalapa") < html.index("Milpa Alta <span")  # alcaldías in alphabetical order
    assert "subsidio parcial (50 %)" in html
    assert "Colonia de otro año" not in html
    assert 'href="/solicitar/"' in html and 'href="/estado/"' in html


def test_the_public_page_explains_the_system_and_the_process(client, open_year):
    html = client.get("/").content.decode()
    for words in ("Tlaloque", "Filtro de hojas", "2,500 litros", "Subsidio total", "Subsidio parcial (50 %)", "Visita técnica"):
        assert words in html
    assert "No es para beber" in html
    assert "La lista de colonias de este año todavía no está publicada" in html  # none in the fixtures' latest year


# --- Self-registration ----------------------------------------------------------------------------------
def test_every_registration_field_has_a_label_and_the_privacy_notice_is_linked(client, colonia):
    html = client.get("/solicitar/").content.decode()
    inputs = re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="(id_[a-z0-9_]+)"', html)
    assert sorted(inputs) == sorted(f"id_{name}" for name in RegistrationForm.base_fields)
    for input_id in inputs:
        assert f'<label for="{input_id}">' in html, input_id
    assert 'href="/privacidad/"' in html
    assert "San Lorenzo Tlacoyucan" in html  # the open year's colonias, by alcaldía
    assert '<optgroup label="Milpa Alta">' in html


def test_a_household_registers_and_gets_a_receipt_with_folio_code_and_qr(client, colonia, open_year):
    # when
    response = client.post("/solicitar/", registration(colonia))
    # then
    html = response.content.decode()
    assert response.status_code == 200, field_error(html, "curp") or html[:2000]
    assert response["Cache-Control"].count("no-store") == 1
    folio = re.search(r'id="receipt-folio">([0-9A-Z-]{14})<', html).group(1)
    code = re.search(r'id="receipt-code">(\d{6})<', html).group(1)
    application = Application.objects.select_related("applicant", "dwelling").get(folio=folio_normalize(folio))
    assert verification_code_matches(code, application.verification_code_hash)
    assert application.channel == Application.Channel.PORTAL
    assert application.program_year == open_year
    assert application.privacy_consent_at is not None
    assert application.applicant.woman_headed_household is True
    assert application.dwelling.tandeo_days_per_week == 2
    # the QR opens the status page with the folio only
    status_url = f"http://testserver/estado/?folio={folio}"
    assert '<svg role="img"' in html
    assert str(status_qr_svg(status_url)) in html
    assert all(code not in url for url in urls_in(html))
    assert f'href="/estado/?folio={folio}"' in html


def test_empty_registration_shows_each_fields_error_next_to_it_and_stores_nothing(client, colonia):
    # given
    before = row_counts()
    # when
    response = client.post("/solicitar/", {})
    # then
    html = response.content.decode()
    assert response.status_code == 400
    for name in ("first_name", "first_surname", "curp", "sex", "birth_date", "colonia", "street_address", "occupants"):
        assert field_error(html, name), name
    for name in ("water_supply", "roof_material", "roof_area_m2", "privacy_consent"):
        assert field_error(html, name), name
    assert field_error(html, "privacy_consent") == "Debe aceptar el aviso de privacidad para registrarse."
    assert field_error(html, "second_surname") == ""
    assert 'role="alert"' in html and 'href="#id_curp"' in html  # the summary at the top links to each field
    assert row_counts() == before


def test_a_curp_with_a_wrong_check_digit_is_refused_next_to_the_curp(client, colonia):
    before = row_counts()
    wrong = CURP[:-1] + str((int(CURP[-1]) + 1) % 10)

    response = client.post("/solicitar/", registration(colonia, curp=wrong))

    assert response.status_code == 400
    assert field_error(response.content.decode(), "curp")
    assert row_counts() == before


def test_a_colonia_outside_the_years_list_is_refused_next_to_the_colonia(client, colonia):
    before = row_counts()
    elsewhere = ColoniaFactory(name="Colonia sin programa")

    response = client.post("/solicitar/", registration(colonia) | {"colonia": str(elsewhere.pk)})

    assert response.status_code == 400
    assert "Colonia sin programa" in field_error(response.content.decode(), "colonia")
    assert row_counts() == before


def test_a_second_open_request_for_the_same_curp_is_refused_next_to_the_curp(client, colonia):
    assert client.post("/solicitar/", registration(colonia)).status_code == 200
    before = row_counts()

    response = client.post("/solicitar/", registration(colonia, street_address="Otra calle 3"))

    assert response.status_code == 400
    assert "Ya existe una solicitud abierta con esta CURP" in field_error(response.content.decode(), "curp")
    assert row_counts() == before


def test_tandeo_days_without_tandeo_are_refused_next_to_the_field(client, colonia):
    before = row_counts()

    response = client.post("/solicitar/", registration(colonia, water_supply="pipas", tandeo_days_per_week="3"))

    assert response.status_code == 400
    assert "tandeo" in field_error(response.content.decode(), "tandeo_days_per_week")
    assert row_counts() == before


def test_registrations_are_throttled_per_client_like_the_api(client, colonia, settings):
    # given: the page and the API share one counter per client
    settings.HARVEST_REGISTRATIONS_PER_CLIENT = 2
    api = Client(REMOTE_ADDR=CLIENT_IP)
    api.post("/api/v1/public/applications/", {}, content_type="application/json")
    client.post("/solicitar/", {})
    before = row_counts()
    # when
    response = client.post("/solicitar/", registration(colonia))
    # then
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "demasiadas solicitudes" in response.content.decode()
    assert row_counts() == before
    assert Client(REMOTE_ADDR="203.0.113.10").post("/solicitar/", registration(colonia)).status_code == 200


def test_without_colonias_in_the_open_year_the_form_is_not_offered(client, open_year):
    html = client.get("/solicitar/").content.decode()
    assert '<form method="post" action="/solicitar/"' not in html
    assert "no se reciben solicitudes en línea" in html


# --- Status lookup ----------------------------------------------------------------------------------------
@pytest.fixture
def application(db):
    application = ApplicationFactory(status=Status.DOCUMENTS_COMPLETE, dwelling__colonia__alcaldia_id="09007")
    StatusChangeFactory(application=application, to_status=Status.REGISTERED, changed_at=datetime(2025, 2, 3, 17, 0, tzinfo=UTC))
    StatusChangeFactory(
        application=application,
        from_status=Status.REGISTERED,
        to_status=Status.DOCUMENTS_COMPLETE,
        changed_at=datetime(2025, 3, 10, 17, 0, tzinfo=UTC),
    )
    Application.objects.filter(pk=application.pk).update(status_changed_at=datetime(2025, 3, 10, 17, 0, tzinfo=UTC))
    return application


def look_up(client, folio, code):
    return client.post("/estado/", {"folio": folio, "code": code})


def test_the_status_page_is_a_plain_form_that_needs_no_javascript(client):
    html = client.get("/estado/").content.decode()
    assert '<form method="post" action="/estado/"' in html
    assert re.search(r'<button type="submit"[^>]*>Consultar</button>', html)
    assert "hx-" not in html
    assert '<label for="id_folio">' in html and '<label for="id_code">' in html
    assert 'href="/privacidad/"' in html


def test_the_qr_link_fills_in_the_folio_but_never_looks_anything_up(client, application):
    response = client.get(f"/estado/?folio={application.folio_display}&code={CODE}")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{application.folio_display}"' in html
    assert '<input type="text" name="code" inputmode="numeric"' in html  # empty: nothing read from the URL
    assert "Historial de su solicitud" not in html


def test_a_household_sees_its_timeline_and_next_step(client, application):
    # when: the folio as people type it, in lower case with spaces
    response = look_up(client, application.folio_display.lower().replace("-", " "), CODE)
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"].count("no-store") == 1
    assert "Documentos completos" in html and "Registrada" in html
    timeline = html[html.index('<ol class="timeline">') :]
    assert timeline.index("Registrada</strong>") < timeline.index("Documentos completos</strong>")
    assert 'aria-current="step"' in html
    assert str(NEXT_STEP[Status.DOCUMENTS_COMPLETE]) in html
    assert "3 de febrero de 2025" in html and "10 de marzo de 2025" in html
    assert "Iztapalapa" in html
    assert application.folio_display in html
    for personal in (application.applicant.first_name, application.applicant.curp, application.dwelling.street_address):
        assert personal not in html


def _without_tokens(html: str, folio: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return html.replace(folio, "FOLIO")


def test_a_wrong_code_and_an_unknown_folio_get_the_same_page(client, application):
    # when
    wrong_code = look_up(client, application.folio_display, "654321")
    unknown = look_up(client, "ZZZZ-ZZZZ-ZZZZ", CODE)
    # then
    assert wrong_code.status_code == unknown.status_code == 404
    assert not_found_message() in wrong_code.content.decode()
    assert _without_tokens(wrong_code.content.decode(), application.folio_display) == _without_tokens(
        unknown.content.decode(), "ZZZZ-ZZZZ-ZZZZ"
    )
    assert "Historial de su solicitud" not in wrong_code.content.decode()


def test_a_folio_or_code_of_the_wrong_shape_is_named_and_not_counted(client, application):
    response = look_up(client, application.folio_display, "12")

    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "code") == "El código de verificación son 6 números, sin espacios."
    assert look_up(client, "", CODE).status_code == 400
    # then four wrong codes and the right one still get through: the two above did not count
    for _ in range(4):
        assert look_up(client, application.folio_display, "000000").status_code == 404
    assert look_up(client, application.folio_display, CODE).status_code == 200


def test_after_five_failures_every_lookup_from_the_client_waits(client, application, settings):
    # given
    settings.HARVEST_LOOKUP_FAILURES_PER_CLIENT = 5
    for _ in range(5):
        assert look_up(client, application.folio_display, "000000").status_code == 404
    # when: even the right code
    response = look_up(client, application.folio_display, CODE)
    # then
    html = response.content.decode()
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "demasiados intentos fallidos" in html
    assert "Historial de su solicitud" not in html
    assert look_up(Client(REMOTE_ADDR="203.0.113.77"), application.folio_display, CODE).status_code == 200


def test_the_page_and_the_api_share_the_lookup_throttle(client, application):
    for _ in range(5):
        api_response = client.post(
            "/api/v1/public/status/", {"folio": application.folio_display, "code": "000000"}, content_type="application/json"
        )
        assert api_response.status_code == 404
    assert look_up(client, application.folio_display, CODE).status_code == 429


def test_a_folio_locked_by_failures_from_many_clients_waits_for_everyone(application, settings):
    settings.HARVEST_LOOKUP_FAILURES_PER_FOLIO = 3
    for n in range(3):
        assert look_up(Client(REMOTE_ADDR=f"198.51.100.{n}"), application.folio_display, "000000").status_code == 404
    assert look_up(Client(REMOTE_ADDR="198.51.100.99"), application.folio_display, CODE).status_code == 429


# --- Privacy notice ----------------------------------------------------------------------------------------
def test_the_privacy_notice_covers_data_purposes_publication_and_arco(client):
    response = client.get("/privacidad/")
    html = response.content.decode()
    assert response.status_code == 200
    for words in (
        "SEDEMA",
        "CURP",
        "padrón",
        "Acceso",
        "Rectificación",
        "Cancelación",
        "Oposición",
        "datos personales sensibles",
    ):
        assert words in html
    assert "Ley de Protección de Datos Personales en Posesión de Sujetos Obligados de la Ciudad de México" in html


@pytest.mark.parametrize("path", ["/", "/solicitar/", "/estado/", "/privacidad/"])
def test_every_household_page_is_spanish_first_with_the_language_switch(client, path):
    html = client.get(path).content.decode()
    assert '<html lang="es-mx">' in html
    assert 'action="/i18n/setlang/"' in html
    assert 'href="/privacidad/"' in html
