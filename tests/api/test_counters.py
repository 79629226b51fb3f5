"""Counters for throttles: atomic, windowed, the same in every web process."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from api.counters import client_ip, counter_hit, counter_reset, counter_seconds_left, counter_value
from api.models import RateCounter


def test_a_counter_counts_up_within_its_window(db):
    assert [counter_hit("k", window_seconds=60) for _ in range(3)] == [1, 2, 3]
    assert counter_value("k") == 3
    assert 0 < counter_seconds_left("k") <= 60
    counter_reset("k")
    assert counter_value("k") == 0


def test_an_ended_window_starts_again_at_one(db, settings):
    if settings.HARVEST_COUNTERS != "database":
        pytest.skip("database counters only")
    counter_hit("k", window_seconds=60)
    RateCounter.objects.filter(key="k").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert counter_hit("k", window_seconds=60) == 1


@pytest.mark.skipif(connection.vendor == "sqlite", reason="threads writing one SQLite file queue up; PostgreSQL shows the race")
@pytest.mark.django_db(transaction=True)
def test_parallel_hits_are_never_lost():
    results: list[int] = []

    def hit() -> None:
        results.append(counter_hit("parallel", window_seconds=60))
        connection.close()

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(1, 21))


def test_client_ip_ignores_forwarded_for_unless_proxies_are_declared(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    settings.HARVEST_NUM_PROXIES = 0
    assert client_ip(request) == "10.0.0.9"
    settings.HARVEST_NUM_PROXIES = 1
    assert client_ip(request) == "203.0.113.7"  # the hop our proxy appended, not the client's own


def test_with_redis_unreachable_counters_fall_back_to_the_database(db, settings, monkeypatch, caplog):
    # given: counters configured on a Redis that does not answer
    import redis

    from api import counters

    settings.HARVEST_COUNTERS = "cache"
    monkeypatch.setattr(counters, "_redis", lambda: redis.Redis(port=1, socket_connect_timeout=0.2))
    # when / then: they keep counting, in the database, and say so in the log
    assert counter_hit("redis-away", window_seconds=60) == 1
    assert counter_hit("redis-away", window_seconds=60) == 2
    assert counters.counter_value("redis-away") == 2
    assert 0 < counters.counter_seconds_left("redis-away") <= 60
    assert "Redis unavailable" in caplog.text
