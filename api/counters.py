"""Atomic counters with a time window, for throttles and lockouts.

With a shared cache (Redis in production, ``CACHE_URL``) they are Redis keys in the cache's
database: ``SET … NX EX`` then ``INCRBY`` in one MULTI block, which Redis runs atomically. On the
embedded default, where each web process has its own memory, they are rows of ``RateCounter``
updated by one ``INSERT … ON CONFLICT … RETURNING`` statement, which SQLite and PostgreSQL both run
atomically, so every process counts the same hits. When Redis cannot be reached, the counters fall
back to those rows for as long as it is away: throttles keep working and requests do not fail.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from api.models import RateCounter

logger = logging.getLogger(__name__)
# Redis away (stopped, restarting, unreachable): count in the database meanwhile.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _use_cache() -> bool:
    return settings.HARVEST_COUNTERS == "cache"


@functools.cache
def _redis() -> redis.Redis:
    """One client per process for the cache's Redis: Django's RedisCache builds a new client object
    for every call, which costs more than the round trip itself on a hot path like the lookup."""
    location = settings.CACHES["default"]["LOCATION"]
    url = location if isinstance(location, str) else location[0]
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def _redis_down(error: Exception) -> None:
    logger.warning("counters: Redis unavailable (%s); counting in the database meanwhile", error)


def _key(key: str) -> str:
    return f"harvest:counter:{key}"


def counter_hit(key: str, *, window_seconds: int, amount: int = 1) -> int:
    """Add ``amount`` to the counter (a new window starts when the old one has ended); the new value."""
    if _use_cache():
        # One round trip, run as a MULTI block: start the window if there is none, then add.
        pipe = _redis().pipeline(transaction=True)
        pipe.set(_key(key), 0, ex=window_seconds, nx=True)
        pipe.incrby(_key(key), amount)
        try:
            return int(pipe.execute()[1])
        except REDIS_DOWN as error:
            _redis_down(error)
    now = timezone.now()
    expires_at = now + timedelta(seconds=window_seconds)
    q = connection.ops.quote_name
    table, key_col, count_col, expires_col = (q(RateCounter._meta.db_table), q("key"), q("count"), q("expires_at"))
    sql = (
        f"INSERT INTO {table} ({key_col}, {count_col}, {expires_col}) VALUES (%s, %s, %s) "  # noqa: S608 -- names from the model
        f"ON CONFLICT ({key_col}) DO UPDATE SET "
        f"{count_col} = CASE WHEN {table}.{expires_col} <= %s THEN %s ELSE {table}.{count_col} + %s END, "
        f"{expires_col} = CASE WHEN {table}.{expires_col} <= %s THEN %s ELSE {table}.{expires_col} END "
        f"RETURNING {count_col}"
    )
    params = [key, amount, _db(expires_at), _db(now), amount, amount, _db(now), _db(expires_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def counter_hit_reading(key: str, *, window_seconds: int, read: str) -> tuple[int, int]:
    """``counter_hit(key)`` and ``counter_value(read)`` together (one round trip on Redis)."""
    if _use_cache():
        pipe = _redis().pipeline(transaction=True)
        pipe.set(_key(key), 0, ex=window_seconds, nx=True)
        pipe.incrby(_key(key), 1)
        pipe.get(_key(read))
        try:
            _, count, other = pipe.execute()
            return int(count), int(other or 0)
        except REDIS_DOWN as error:
            _redis_down(error)
    return counter_hit(key, window_seconds=window_seconds), counter_value(read)


def counter_value(key: str) -> int:
    """The counter's value now (0 when absent or expired)."""
    if _use_cache():
        try:
            return int(_redis().get(_key(key)) or 0)
        except REDIS_DOWN as error:
            _redis_down(error)
    row = RateCounter.objects.filter(key=key, expires_at__gt=timezone.now()).values_list("count", flat=True).first()
    return int(row or 0)


def counter_seconds_left(key: str) -> int:
    """Seconds until the counter's window ends (0 when absent)."""
    if _use_cache():
        try:
            return max(int(_redis().ttl(_key(key))), 0)
        except REDIS_DOWN as error:
            _redis_down(error)
    expires_at = RateCounter.objects.filter(key=key).values_list("expires_at", flat=True).first()
    if expires_at is None:
        return 0
    return max(int((expires_at - timezone.now()).total_seconds()), 0)


def counter_reset(key: str) -> None:
    if _use_cache():
        try:
            _redis().delete(_key(key))
        except REDIS_DOWN as error:
            _redis_down(error)
    RateCounter.objects.filter(key=key).delete()


def counters_purge_expired() -> int:
    """Delete ended windows (database counters only); returns how many."""
    deleted, _ = RateCounter.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _db(value: object) -> object:
    if connection.vendor == "sqlite":
        return connection.ops.adapt_datetimefield_value(value)
    return value


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the hop our own proxies appended (HARVEST_NUM_PROXIES).

    Hops a client writes into X-Forwarded-For itself sit to the left of ours and are never read,
    so a random header on each request cannot reset a throttle (reliability.md A6).
    """
    proxies = settings.HARVEST_NUM_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
