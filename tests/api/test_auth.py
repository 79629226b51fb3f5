"""Device tokens: sign-in, its throttle, listing and revoking devices (reliability.md B7, B9)."""

import hashlib
import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import DeviceToken, RateCounter
from installations.models import User
from tests.factories import UserFactory

TOKEN_URL = "/api/v1/auth/token/"
TOKENS_URL = "/api/v1/auth/tokens/"
PASSWORD = "contraseña-de-prueba"


@pytest.fixture(autouse=True)
def fresh_counters(db):
    """Counters may live in Redis, which no test transaction rolls back."""
    cache.clear()
    RateCounter.objects.all().delete()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def settings_login(settings):
    settings.HARVEST_LOGIN_FAILURES = 5
    settings.HARVEST_LOGIN_WINDOW_S = 900
    settings.HARVEST_NUM_PROXIES = 0
    return settings


def sign_in(client, username, password=PASSWORD, *, device_name="Teléfono de campo", ip="10.0.0.1", **headers):
    body = {"username": username, "password": password, "device_name": device_name}
    return client.post(TOKEN_URL, body, format="json", REMOTE_ADDR=ip, **headers)


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# --- Sign-in ------------------------------------------------------------------------------------------
def test_a_token_is_issued_and_opens_the_api(api_client, technician):
    # when
    response = sign_in(api_client, "tecnica")
    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at", "device_id", "user"}
    assert body["user"] == {"username": "tecnica", "role": "technician"}
    token = DeviceToken.objects.get(pk=body["device_id"])
    assert token.user == technician
    assert token.device_name == "Teléfono de campo"
    listed = api_client.get(TOKENS_URL, **bearer(body["token"]))
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [token.pk]


def test_a_token_expires_after_the_configured_days(api_client, technician, settings):
    settings.HARVEST_TOKEN_TTL_DAYS = 30
    before = timezone.now()
    body = sign_in(api_client, "tecnica").json()
    token = DeviceToken.objects.get(pk=body["device_id"])
    assert before + timedelta(days=30) <= token.expires_at <= timezone.now() + timedelta(days=30)


def test_the_token_answer_is_never_cached(api_client, technician):
    assert sign_in(api_client, "tecnica").headers["Cache-Control"] == "no-store"
    assert sign_in(api_client, "tecnica", "otra-cosa").headers["Cache-Control"] == "no-store"


def test_wrong_password_unknown_user_and_inactive_account_get_the_same_answer(api_client, technician):
    UserFactory(username="dada-de-baja", is_active=False)
    # when
    wrong_password = sign_in(api_client, "tecnica", "no-es-la-contraseña", ip="10.0.0.1")
    unknown_user = sign_in(api_client, "nadie-se-llama-asi", ip="10.0.0.2")
    inactive = sign_in(api_client, "dada-de-baja", ip="10.0.0.3")
    # then
    assert wrong_password.status_code == unknown_user.status_code == inactive.status_code == 400
    assert wrong_password.content == unknown_user.content == inactive.content
    assert wrong_password.json()["code"] == "invalid_credentials"
    assert set(wrong_password.json()) == {"detail", "code", "fields"}
    assert not DeviceToken.objects.exists()


def test_an_inactive_user_gets_no_token(api_client):
    UserFactory(username="dada-de-baja", is_active=False)
    response = sign_in(api_client, "dada-de-baja")
    assert response.status_code == 400
    assert not DeviceToken.objects.exists()


def test_a_missing_field_is_a_validation_error(api_client, technician):
    response = api_client.post(TOKEN_URL, {"username": "tecnica", "password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "device_name" in response.json()["fields"]


def test_sign_in_takes_json_only(api_client, technician):
    response = api_client.post(TOKEN_URL, {"username": "tecnica", "password": PASSWORD, "device_name": "x"})  # multipart
    assert response.status_code == 415


# --- Throttle (B7) -----------------------------------------------------------------------------------
def test_the_sixth_attempt_for_a_user_name_is_refused_even_with_the_right_password(api_client, technician, settings_login):
    # given: five failures from five addresses, with the name in any case
    for attempt, name in enumerate(["tecnica", "TECNICA", "Tecnica", "tecnicA", "tecnica"]):
        assert sign_in(api_client, name, "no-es-la-contraseña", ip=f"10.0.1.{attempt}").status_code == 400
    # when
    response = sign_in(api_client, "tecnica", ip="10.0.2.1")
    # then
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert set(response.json()) == {"detail", "code", "fields"}
    assert 0 < int(response.headers["Retry-After"]) <= 900
    assert not DeviceToken.objects.exists()


def test_another_user_name_is_not_locked_by_someone_elses_failures(api_client, technician, settings_login):
    UserFactory(username="otra")
    for attempt in range(5):
        sign_in(api_client, "tecnica", "no-es-la-contraseña", ip=f"10.0.1.{attempt}")
    assert sign_in(api_client, "otra", ip="10.0.3.1").status_code == 201


def test_failures_from_one_address_with_different_user_names_are_refused_after_five(api_client, technician, settings_login):
    for attempt in range(5):
        assert sign_in(api_client, f"usuario{attempt}", "x", ip="198.51.100.7").status_code == 400
    response = sign_in(api_client, "tecnica", ip="198.51.100.7")
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert sign_in(api_client, "tecnica", ip="198.51.100.8").status_code == 201  # another address is not locked


def test_a_forwarded_for_header_does_not_reset_the_address_counter(api_client, technician, settings_login):
    for attempt in range(5):
        response = sign_in(api_client, f"usuario{attempt}", "x", ip="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
        assert response.status_code == 400
    response = sign_in(api_client, "tecnica", ip="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429


def test_a_successful_sign_in_does_not_use_up_an_attempt(api_client, technician, settings_login):
    for attempt in range(4):
        sign_in(api_client, "tecnica", "no-es-la-contraseña", ip=f"10.0.1.{attempt}")
    assert sign_in(api_client, "tecnica", ip="10.0.2.1").status_code == 201
    assert sign_in(api_client, "tecnica", "no-es-la-contraseña", ip="10.0.2.2").status_code == 400  # the fifth failure
    assert sign_in(api_client, "tecnica", ip="10.0.2.3").status_code == 429


@pytest.mark.skipif(connection.vendor == "sqlite", reason="threads writing one SQLite file queue up; PostgreSQL shows the race")
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_get_at_most_five_answers_that_are_not_429(settings_login):
    # given: the real, slow hasher, so a check-then-count throttle would let many through meanwhile
    settings_login.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    cache.clear()
    UserFactory(username="objetivo")
    statuses: list[int] = []
    start = threading.Barrier(20)

    def attempt(n: int) -> None:
        body = {"username": "objetivo", "password": f"intento-{n}", "device_name": "x"}
        start.wait()
        response = Client().post(TOKEN_URL, body, content_type="application/json", REMOTE_ADDR=f"10.9.0.{n}")
        statuses.append(response.status_code)
        connection.close()

    # when
    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert len(statuses) == 20
    assert sum(1 for code in statuses if code != 429) <= 5
    assert set(statuses) <= {400, 429}
    cache.clear()


# --- Devices and revocation (B9) ----------------------------------------------------------------------
def test_signing_out_revokes_the_token_at_once(api_client, technician):
    raw = sign_in(api_client, "tecnica").json()["token"]
    assert api_client.get(TOKENS_URL, **bearer(raw)).status_code == 200
    # when
    response = api_client.delete(TOKEN_URL, **bearer(raw))
    # then
    assert response.status_code == 204
    refused = api_client.get(TOKENS_URL, **bearer(raw))
    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"
    assert api_client.delete(TOKEN_URL, **bearer(raw)).status_code == 401


def test_signing_out_needs_a_device_token(api_client, technician):
    api_client.force_login(technician)  # a session is not a device
    assert api_client.delete(TOKEN_URL).status_code == 401


def test_revoking_one_device_leaves_the_other_working(api_client, technician):
    phone = sign_in(api_client, "tecnica", device_name="Teléfono").json()
    tablet = sign_in(api_client, "tecnica", device_name="Tableta").json()
    # when
    response = api_client.delete(f"{TOKENS_URL}{tablet['device_id']}/", **bearer(phone["token"]))
    # then
    assert response.status_code == 204
    assert api_client.get(TOKENS_URL, **bearer(tablet["token"])).status_code == 401
    listed = api_client.get(TOKENS_URL, **bearer(phone["token"]))
    assert listed.status_code == 200
    assert [row["device_name"] for row in listed.json()["results"]] == ["Teléfono"]


def test_another_users_device_is_not_found(api_client, technician):
    UserFactory(username="otra")
    mine = sign_in(api_client, "tecnica").json()
    theirs = sign_in(api_client, "otra").json()
    # when
    response = api_client.delete(f"{TOKENS_URL}{theirs['device_id']}/", **bearer(mine["token"]))
    # then
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code", "fields"}
    assert api_client.get(TOKENS_URL, **bearer(theirs["token"])).status_code == 200
    assert api_client.delete(f"{TOKENS_URL}999999/", **bearer(mine["token"])).status_code == 404


def test_an_expired_token_is_refused(api_client, technician):
    body = sign_in(api_client, "tecnica").json()
    now = timezone.now()
    DeviceToken.objects.filter(pk=body["device_id"]).update(
        created_at=now - timedelta(days=31), expires_at=now - timedelta(seconds=1)
    )
    assert api_client.get(TOKENS_URL, **bearer(body["token"])).status_code == 401


def test_a_deactivated_users_token_is_refused(api_client, technician):
    raw = sign_in(api_client, "tecnica").json()["token"]
    User.objects.filter(pk=technician.pk).update(is_active=False)
    assert api_client.get(TOKENS_URL, **bearer(raw)).status_code == 401


def test_the_device_list_shows_only_working_tokens_and_never_their_values(api_client, technician):
    UserFactory(username="otra")
    current = sign_in(api_client, "tecnica", device_name="Teléfono").json()
    revoked = sign_in(api_client, "tecnica", device_name="Perdido").json()
    expired = sign_in(api_client, "tecnica", device_name="Viejo").json()
    foreign = sign_in(api_client, "otra").json()
    api_client.delete(TOKEN_URL, **bearer(revoked["token"]))
    now = timezone.now()
    DeviceToken.objects.filter(pk=expired["device_id"]).update(created_at=now - timedelta(days=31), expires_at=now)
    # when
    response = api_client.get(TOKENS_URL, **bearer(current["token"]))
    # then
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [current["device_id"]]
    assert set(rows[0]) == {"id", "device_name", "created_at", "expires_at", "last_used_at"}
    for raw in (current["token"], revoked["token"], expired["token"], foreign["token"]):
        assert raw not in response.text
        assert hashlib.sha256(raw.encode()).hexdigest() not in response.text


def test_the_device_list_needs_authentication(api_client):
    assert api_client.get(TOKENS_URL).status_code == 401
    assert api_client.get(TOKENS_URL, **bearer("hv_no-existe")).status_code == 401


def test_only_the_tokens_sha256_is_stored(api_client, technician):
    # when
    raw = sign_in(api_client, "tecnica").json()["token"]
    # then: no column of any table holds the raw token
    assert DeviceToken.objects.get().key_hash == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 -- names from introspection
            for row in cursor.fetchall():
                assert not any(raw in str(value) for value in row), table
