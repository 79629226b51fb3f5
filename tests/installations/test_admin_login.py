"""Signing in to the admin pages is throttled per user name and per client (reliability.md B7)."""

import pytest
from django.core.cache import cache

from api.models import RateCounter
from tests.factories import UserFactory

URL = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fresh_counters(db):
    cache.clear()
    RateCounter.objects.all().delete()


def _login(client, username, password, ip="198.51.100.7"):
    return client.post(URL, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_then_even_the_right_one_waits(client):
    UserFactory(username="coordinadora", role="coordinator", is_staff=True)
    for _ in range(5):
        assert "Demasiados intentos" not in _login(client, "coordinadora", "mal").content.decode()
    page = _login(client, "coordinadora", "contraseña-de-prueba").content.decode()
    assert "Demasiados intentos fallidos" in page
    assert "_auth_user_id" not in client.session


def test_a_good_sign_in_does_not_use_up_attempts(client):
    UserFactory(username="admin2", role="administrator", is_staff=True, is_superuser=True)
    for _ in range(8):
        client.logout()
        assert _login(client, "admin2", "contraseña-de-prueba").status_code == 302


def test_one_client_trying_many_names_is_throttled_too(client):
    for n in range(5):
        _login(client, f"persona{n}", "mal", ip="203.0.113.9")
    assert "Demasiados intentos fallidos" in _login(client, "otra", "mal", ip="203.0.113.9").content.decode()
    assert "Demasiados intentos fallidos" not in _login(client, "otra", "mal", ip="203.0.113.10").content.decode()


def test_the_user_name_is_throttled_whatever_its_letter_case(client):
    UserFactory(username="tecnica", is_staff=True, role="coordinator")
    for n in range(5):
        _login(client, "TECNICA" if n % 2 else "tecnica", "mal", ip=f"192.0.2.{n}")
    assert "Demasiados intentos fallidos" in _login(client, "Tecnica", "contraseña-de-prueba", ip="192.0.2.99").content.decode()
