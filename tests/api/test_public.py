"""The household endpoints: self-registration and the status lookup (reliability.md A1–A9)."""

import logging
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import RateCounter
from installations.identifiers import folio_display, folio_generate, folio_normalize
from installations.lifecycle import NEXT_STEP, Status
from installations.models import Applicant, Application, Dwelling, ProgramYear, StatusChange
from tests.factories import ApplicationFactory, ColoniaFactory, EligibleColoniaFactory, StatusChangeFactory, make_curp

REGISTER_URL = "/api/v1/public/applications/"
STATUS_URL = "/api/v1/public/status/"
CURP = make_curp(9101)
CODE = "123456"  # the factories' verification code
CLIENT_IP = "198.51.100.7"


@pytest.fixture(autouse=True)
def fresh_counters(db, settings):
    """Counters may live in Redis, which no test transaction rolls back."""
    settings.HARVEST_NUM_PROXIES = 0
    cache.clear()
    RateCounter.objects.all().delete()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def open_year(db) -> ProgramYear:
    return ProgramYear.objects.order_by("-year").first()


@pytest.fixture
def colonia(open_year):
    return EligibleColoniaFactory(program_year=open_year).colonia


def registration(colonia, **overrides: object) -> dict[str, object]:
    return {
        "privacy_consent": True,
        "first_name": "Guadalupe",
        "first_surname": "Gómez",
        "second_surname": "Martínez",
        "curp": CURP,
        "sex": "M",
        "birth_date": "1985-01-01",
        "phone": "5587654321",
        "email": "lupe@example.mx",
        "woman_headed_household": True,
        "colonia": colonia.pk,
        "street_address": "Av. Nuevo León 12",
        "postal_code": "12000",
        "latitude": "19.191000",
        "longitude": "-99.023000",
        "occupants": 5,
        "water_supply": "tandeo",
        "tandeo_days_per_week": 2,
        "roof_material": "concreto",
        "roof_area_m2": "40.00",
    } | overrides


def register(client, body, *, ip=CLIENT_IP, **headers):
    return client.post(REGISTER_URL, body, format="json", REMOTE_ADDR=ip, **headers)


def look_up(client, folio, code, *, ip=CLIENT_IP, **headers):
    return client.post(STATUS_URL, {"folio": folio, "code": code}, format="json", REMOTE_ADDR=ip, **headers)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Applicant, Dwelling, Application, StatusChange)}


def unknown_folio() -> str:
    folio = folio_generate()
    while Application.objects.filter(folio=folio).exists():
        folio = folio_generate()
    return folio


# --- Registration -----------------------------------------------------------------------------------
def test_a_household_registers_and_gets_only_its_folio_and_code(api, colonia, open_year):
    # when
    response = register(api, registration(colonia, curp=CURP.lower()))
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"folio", "verification_code"}
    assert body["folio"] == folio_display(folio_normalize(body["folio"]))
    assert len(body["folio"]) == 14
    assert body["verification_code"].isdigit()
    assert len(body["verification_code"]) == 6
    application = Application.objects.select_related("applicant").get(folio=folio_normalize(body["folio"]))
    assert application.channel == Application.Channel.PORTAL
    assert application.program_year == open_year
    assert application.privacy_consent_at is not None
    assert application.applicant.curp == CURP
    assert application.status == Status.REGISTERED


def test_the_code_on_the_receipt_opens_the_status(api, colonia):
    # given
    receipt = register(api, registration(colonia)).json()
    # when
    response = look_up(api, receipt["folio"], receipt["verification_code"])
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "registered"
    assert response.json()["status_label"] == "Registrada"
    assert [step["status"] for step in response.json()["history"]] == ["registered"]


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("es-MX", "Debe aceptar el aviso de privacidad para registrarse."),
        ("en", "You must accept the privacy notice to register."),
    ],
)
def test_registration_without_privacy_consent_is_refused_and_writes_nothing(api, colonia, language, message):
    # given
    before = row_counts()
    # when
    response = register(api, registration(colonia, privacy_consent=False), HTTP_ACCEPT_LANGUAGE=language)
    # then
    assert response.status_code == 400
    assert response.json()["fields"] == {"privacy_consent": [message]}
    assert row_counts() == before


@pytest.mark.parametrize(
    ("language", "template"),
    [
        ("es-MX", "La colonia {name} no participa en el programa {year}."),
        ("en", "The colonia {name} is not taking part in the {year} program."),
    ],
)
def test_a_colonia_outside_the_years_list_is_refused_in_the_language_asked_for(api, open_year, language, template):
    # given
    outside = ColoniaFactory()
    before = row_counts()
    # when
    response = register(api, registration(outside), HTTP_ACCEPT_LANGUAGE=language)
    # then
    message = template.format(name=outside.name, year=open_year.year)
    assert response.status_code == 400
    assert response.json() == {"detail": message, "code": "not_eligible", "fields": {"colonia": [message]}}
    assert row_counts() == before


def test_a_second_open_request_for_one_curp_is_refused_on_curp(api, colonia, open_year):
    # given
    assert register(api, registration(colonia)).status_code == 201
    before = row_counts()
    # when
    response = register(api, registration(colonia, street_address="Otra calle 5"))
    # then
    assert response.status_code == 400
    assert response.json()["code"] == "not_eligible"
    assert response.json()["fields"] == {
        "curp": [f"Ya existe una solicitud abierta con esta CURP en el programa {open_year.year}."]
    }
    assert row_counts() == before


@pytest.mark.parametrize("curp", ["GOMA850101HDFRRN05", "GOMA850101HDFRRN0", "GOMA851301HDFRRN00", "1234567890ABCDEFGH"])
def test_an_invalid_curp_is_refused_on_curp_and_writes_nothing(api, colonia, curp):
    # given
    before = row_counts()
    # when
    response = register(api, registration(colonia, curp=curp))
    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["curp"]
    assert row_counts() == before


def test_a_year_other_than_the_open_one_is_refused_on_program_year(api, colonia, open_year):
    # given
    before = row_counts()
    # when
    response = register(api, registration(colonia, program_year=open_year.year - 1))
    # then
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["program_year"]
    assert row_counts() == before
    assert register(api, registration(colonia, program_year=open_year.year)).status_code == 201


def test_a_home_outside_mexico_city_is_refused_on_its_field(api, colonia):
    # given
    before = row_counts()
    # when
    response = register(api, registration(colonia, latitude="20.500000"))
    # then
    assert response.status_code == 400
    assert response.json()["fields"] == {"latitude": ["La latitud queda fuera de la Ciudad de México."]}
    assert row_counts() == before


def test_registrations_from_one_address_are_throttled(api, colonia, settings):
    # given
    settings.HARVEST_REGISTRATIONS_PER_CLIENT = 2
    assert register(api, registration(colonia)).status_code == 201
    assert register(api, registration(colonia, curp=make_curp(9102))).status_code == 201
    before = row_counts()
    # when
    response = register(api, registration(colonia, curp=make_curp(9103)), HTTP_X_FORWARDED_FOR="203.0.113.9")
    # then
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert row_counts() == before
    assert register(api, registration(colonia, curp=make_curp(9103)), ip="198.51.100.8").status_code == 201


def test_registration_takes_json_only(api, colonia):
    # when
    response = api.post(REGISTER_URL, registration(colonia), REMOTE_ADDR=CLIENT_IP)  # multipart form
    # then
    assert response.status_code == 415
    assert Application.objects.count() == 0


# --- Status lookup: what it shows ---------------------------------------------------------------------
@pytest.fixture
def application(db) -> Application:
    """A request whose documents were completed late on 1 March 2024 in Mexico City (already 2 March in UTC)."""
    completed_at = datetime(2024, 3, 2, 3, 30, tzinfo=UTC)
    application = ApplicationFactory(status=Status.DOCUMENTS_COMPLETE, status_changed_at=completed_at)
    StatusChangeFactory(application=application, to_status=Status.REGISTERED, changed_at=datetime(2024, 2, 20, 17, tzinfo=UTC))
    StatusChangeFactory(
        application=application, from_status=Status.REGISTERED, to_status=Status.DOCUMENTS_COMPLETE, changed_at=completed_at
    )
    return application


def test_the_status_shows_exactly_the_public_fields(api, application):
    # when
    response = look_up(api, application.folio_display, CODE)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "status": "documents_complete",
        "status_label": "Documentos completos",
        "updated_on": "2024-03-01",
        "next_step": str(NEXT_STEP[Status.DOCUMENTS_COMPLETE]),
        "alcaldia": application.dwelling.colonia.alcaldia.name,
        "history": [
            {"status": "registered", "status_label": "Registrada", "on": "2024-02-20"},
            {"status": "documents_complete", "status_label": "Documentos completos", "on": "2024-03-01"},
        ],
    }
    person, home = application.applicant, application.dwelling
    for private in (person.first_name, person.first_surname, person.curp, person.phone, home.street_address):
        assert private not in response.text


def test_the_status_speaks_the_language_asked_for(api, application):
    # when
    response = look_up(api, application.folio_display, CODE, HTTP_ACCEPT_LANGUAGE="en")
    # then
    assert response.json()["status_label"] == "Documents complete"
    assert response.json()["history"][0]["status_label"] == "Registered"
    assert response.json()["next_step"] == "We will call you to schedule the technical visit to your home."


def test_a_folio_in_lower_case_with_spaces_is_found(api, application):
    # given
    typed = folio_display(application.folio).lower().replace("-", " ")
    # when
    response = look_up(api, f"  {typed} ", CODE)
    # then
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"folio": "FOLIO"}, "code"),
        ({"folio": "FOLIO", "code": "12345"}, "code"),
        ({"folio": "FOLIO", "code": "12345a"}, "code"),
        ({"folio": "<script>", "code": CODE}, "folio"),
        ({"code": CODE}, "folio"),
    ],
)
def test_a_lookup_needs_a_folio_and_a_six_digit_code(api, application, body, field):
    # given
    body = {name: application.folio if value == "FOLIO" else value for name, value in body.items()}
    # when
    response = api.post(STATUS_URL, body, format="json", REMOTE_ADDR=CLIENT_IP)
    # then
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


# --- Status lookup: failures tell nothing --------------------------------------------------------------
def test_a_wrong_code_and_an_unknown_folio_answer_the_same_bytes_and_headers(api, application):
    # when
    wrong_code = look_up(api, application.folio, "654321")
    unknown = look_up(api, unknown_folio(), CODE)
    # then
    assert wrong_code.status_code == unknown.status_code == 404
    assert wrong_code.content == unknown.content
    assert wrong_code.json() == {"detail": "No encontrado.", "code": "not_found", "fields": {}}
    assert dict(wrong_code.headers) == dict(unknown.headers)


def test_a_wrong_code_and_an_unknown_folio_run_the_same_queries(api, application):
    # given
    other_folio = unknown_folio()
    # when
    with CaptureQueriesContext(connection) as wrong_code:
        look_up(api, application.folio, "654321", ip="198.51.100.20")
    with CaptureQueriesContext(connection) as unknown:
        look_up(api, other_folio, CODE, ip="198.51.100.21")
    # then
    assert len(wrong_code.captured_queries) == len(unknown.captured_queries)
    lookups = [
        [query["sql"] for query in captured.captured_queries if '"installations_application"' in query["sql"]]
        for captured in (wrong_code, unknown)
    ]
    assert len(lookups[0]) == len(lookups[1]) == 1


def test_a_wrong_code_and_an_unknown_folio_take_the_same_time(api, application, settings):
    # given: each try from its own address, and no folio lock, so both paths run to the end
    settings.HARVEST_LOOKUP_FAILURES_PER_FOLIO = 10_000
    durations: dict[str, list[float]] = {"wrong_code": [], "unknown_folio": []}
    # when: interleaved, so drift in the machine's speed hits both alike
    for sample in range(100):
        for path, folio, code in (("wrong_code", application.folio, "654321"), ("unknown_folio", unknown_folio(), CODE)):
            ip = f"10.{sample // 200}.{sample % 200}.{1 if path == 'wrong_code' else 2}"
            started = time.perf_counter()
            response = look_up(api, folio, code, ip=ip)
            durations[path].append(time.perf_counter() - started)
            assert response.status_code == 404
    # then
    medians_ms = {path: statistics.median(values) * 1000 for path, values in durations.items()}
    print(f"median latency of the 404 paths (ms): {medians_ms}")
    assert abs(medians_ms["wrong_code"] - medians_ms["unknown_folio"]) < 10


# --- Status lookup: throttles ---------------------------------------------------------------------------
def test_the_sixth_failure_from_one_address_shuts_it_out_even_with_the_right_code(api, application):
    # given
    for _ in range(5):
        assert look_up(api, application.folio, "654321").status_code == 404
    # when
    response = look_up(api, application.folio, CODE)
    # then
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 0 < int(response.headers["Retry-After"]) <= django_settings.HARVEST_LOOKUP_CLIENT_WINDOW_S
    assert look_up(api, application.folio, CODE, ip="198.51.100.99").status_code == 200  # another address is not affected


def test_forwarded_for_headers_do_not_reset_the_count(api, application):
    # given
    for n in range(5):
        assert look_up(api, unknown_folio(), CODE, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 404
    # when
    response = look_up(api, application.folio, CODE, HTTP_X_FORWARDED_FOR="203.0.113.200")
    # then
    assert response.status_code == 429


def test_successful_lookups_do_not_use_up_the_allowance(api, application):
    # given
    for _ in range(10):
        assert look_up(api, application.folio, CODE).status_code == 200
    # when
    failures = [look_up(api, application.folio, "654321").status_code for _ in range(6)]
    # then
    assert failures == [404] * 5 + [429]


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_tries_get_at_most_five_answers():
    # given: a transactional test may follow one that emptied the tables (SQLite passes too: it queues the writers)
    call_command("loaddata", *django_settings.REFERENCE_FIXTURES, verbosity=0)
    folio = ApplicationFactory().folio
    statuses: list[int] = []
    start = threading.Barrier(20)

    def guess(n: int) -> None:
        try:
            start.wait()
            statuses.append(look_up(APIClient(), folio, f"{n:06d}").status_code)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert len(statuses) == 20
    assert sum(status != 429 for status in statuses) <= 5
    assert set(statuses) <= {404, 429}


def test_ten_failures_on_one_folio_lock_it_for_everyone_for_fifteen_minutes(api, application, caplog):
    # given: ten wrong codes, each from a different address
    caplog.set_level(logging.INFO)
    for n in range(10):
        assert look_up(api, application.folio, "654321", ip=f"192.0.2.{n}").status_code == 404
    # when
    response = look_up(api, application.folio_display.lower(), CODE, ip="198.51.100.50")
    # then
    assert response.status_code == 429
    assert 890 <= int(response.headers["Retry-After"]) <= 900
    locks = [record for record in caplog.records if record.name == "harvest.security"]
    assert len(locks) == 1
    assert locks[0].levelno == logging.WARNING
    for form in (application.folio, application.folio_display, application.folio.lower()):
        assert form not in locks[0].getMessage()
    assert look_up(api, unknown_folio(), CODE, ip="198.51.100.50").status_code == 404  # only that folio is locked


def test_a_locked_folio_opens_again_when_the_lock_ends(api, application):
    # given
    if django_settings.HARVEST_COUNTERS != "database":
        pytest.skip("moves a database counter's expiry; Redis expires keys by itself")
    for n in range(10):
        look_up(api, application.folio, "654321", ip=f"192.0.2.{n}")
    assert look_up(api, application.folio, CODE, ip="198.51.100.50").status_code == 429
    # when: fifteen minutes pass
    RateCounter.objects.filter(key__startswith="lookup:folio-lock:").update(expires_at=timezone.now() - timedelta(seconds=1))
    # then
    assert look_up(api, application.folio, CODE, ip="198.51.100.50").status_code == 200


# --- Status lookup: HTTP hygiene ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_only_post_is_accepted(api, application, method):
    # when
    response = getattr(api, method)(f"{STATUS_URL}?folio={application.folio}&code={CODE}", REMOTE_ADDR=CLIENT_IP)
    # then
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_lookup_takes_json_only(api, application):
    # when
    response = api.post(STATUS_URL, {"folio": application.folio, "code": CODE}, REMOTE_ADDR=CLIENT_IP)  # multipart form
    # then
    assert response.status_code == 415


def test_every_answer_is_no_store(api, application):
    # when
    found = look_up(api, application.folio, CODE)
    missing = [look_up(api, application.folio, "654321") for _ in range(5)]
    throttled = look_up(api, application.folio, CODE)
    # then
    assert [found.status_code, missing[0].status_code, throttled.status_code] == [200, 404, 429]
    for response in (found, missing[0], throttled):
        assert response.headers["Cache-Control"] == "no-store"


def test_no_cookie_is_set_and_no_csrf_token_is_needed(colonia, application):
    # given: a client that enforces CSRF like a browser would
    client = APIClient(enforce_csrf_checks=True)
    # when
    responses = [
        register(client, registration(colonia)),
        look_up(client, application.folio, CODE),
        look_up(client, application.folio, "654321"),
        client.get(STATUS_URL, REMOTE_ADDR=CLIENT_IP),
    ]
    # then
    assert [response.status_code for response in responses] == [201, 200, 404, 405]
    for response in responses:
        assert "Set-Cookie" not in response.headers
        assert not response.cookies
    assert not client.cookies


def test_logs_never_hold_the_folio_or_the_curp(api, colonia, caplog):
    # given
    caplog.set_level(logging.DEBUG)
    receipt = register(api, registration(colonia)).json()
    folio = folio_normalize(receipt["folio"])
    # when
    look_up(api, receipt["folio"], receipt["verification_code"])
    for n in range(10):
        look_up(api, folio.lower(), "000000", ip=f"192.0.2.{n}")
    look_up(api, receipt["folio"], receipt["verification_code"], ip="192.0.2.78")  # folio locked now
    # then
    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    assert "status lookup found" in logged
    assert "status lookup not found" in logged
    assert "harvest.security" in logged
    for secret in (folio, receipt["folio"], folio.lower(), CURP, receipt["verification_code"]):
        assert secret not in logged


def test_the_lookup_body_is_exactly_what_its_documented_serializer_renders(db):
    from datetime import date

    from api.public import PublicStatusSerializer, public_status_body
    from installations.lookup import PublicStatus, PublicStatusStep

    found = PublicStatus(
        status="visit_scheduled",
        status_label="Visita técnica programada",
        updated_on=date(2026, 11, 20),
        next_step="Reciba al personal técnico.",
        alcaldia="Milpa Alta",
        history=(
            PublicStatusStep(status="registered", status_label="Registrada", on=date(2026, 11, 1)),
            PublicStatusStep(status="visit_scheduled", status_label="Visita técnica programada", on=date(2026, 11, 20)),
        ),
    )
    assert public_status_body(found) == PublicStatusSerializer(found).data
