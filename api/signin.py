"""The sign-in throttle shared by every way staff sign in (admin pages and phone tokens).

Each attempt first reserves a place in two counters, one per user name (case-insensitive) and one
per client, and only then checks the password, so parallel attempts cannot all pass a
read-then-check: at most HARVEST_LOGIN_FAILURES get past. A success or a refused attempt gives its
place back; a failure keeps it (reliability.md B7).
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from api.counters import counter_hit, counter_seconds_left


def signin_keys(*, username: str, ip: str) -> list[str]:
    # Hashed: user names can be long or hold characters a cache key must not.
    name = hashlib.sha256(username.casefold().encode()).hexdigest()
    return [f"login:user:{name}", f"login:ip:{ip}"]


def signin_reserve(keys: list[str]) -> int | None:
    """Reserve one attempt on every key; None when allowed, else the seconds to wait (reservation returned)."""
    window = settings.HARVEST_LOGIN_WINDOW_S
    counts = {key: counter_hit(key, window_seconds=window) for key in keys}
    over = [key for key, count in counts.items() if count > settings.HARVEST_LOGIN_FAILURES]
    if not over:
        return None
    wait_seconds = max(max(counter_seconds_left(key) for key in over), 1)
    signin_give_back(keys)
    return wait_seconds


def signin_give_back(keys: list[str]) -> None:
    """Return one reservation per key; if a window ended meanwhile, the new one must not start below zero."""
    window = settings.HARVEST_LOGIN_WINDOW_S
    for key in keys:
        if counter_hit(key, window_seconds=window, amount=-1) < 0:
            counter_hit(key, window_seconds=window, amount=1)
