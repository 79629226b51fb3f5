"""Browser tests: Debian's Chromium driven by Playwright against a live server of the app.

- ``browser_page`` opens a page in a fresh context (viewport, locale, geolocation as asked) and
  refuses every request to a host other than the live server's: the test fails listing them
  (the pages load nothing from a CDN or any other host).
- ``reference_data`` loads the reference fixtures again (``browser_page`` uses it): a transactional
  test empties every table when it ends.
- ``screenshot(page, name)`` saves a PNG under ``artifacts/screenshots/`` (kept by CI as artifacts).

Chromium is ``/usr/bin/chromium`` (``apt-get install -y chromium``; never ``playwright install``).
Without it the browser tests are skipped, unless ``HARVEST_BROWSER_TESTS=required`` (as in
``.ci/run``), which makes a missing browser a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("HARVEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


def _browser_available() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if os.environ.get("HARVEST_BROWSER_TESTS") == "required":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _browser_available()
    # Playwright's sync API runs an event loop in this thread; the live server's database work happens
    # in its own thread, and the test's own ORM calls are plain synchronous code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def reference_data(transactional_db: None) -> None:
    """The reference fixtures (alcaldías, years, coefficients, rainfall). Browser tests need a transactional
    database (the live server reads it from another thread), and each one ends by emptying every table."""
    from django.conf import settings
    from django.core.management import call_command

    from installations.models import Alcaldia

    if not Alcaldia.objects.exists():
        call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)


@pytest.fixture
def browser_page(
    browser: Any, live_server: Any, reference_data: None, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """``browser_page(viewport=PHONE, locale="es-MX", geolocation=None)``: a page on the live server."""
    contexts: list[Any] = []
    foreign: list[str] = []
    own_host = urlsplit(live_server.url).netloc

    def open_page(
        *, viewport: dict[str, int] | None = None, locale: str = "es-MX", geolocation: dict[str, float] | None = None
    ) -> Any:
        options: dict[str, Any] = {"viewport": viewport or DESK, "locale": locale, "base_url": live_server.url}
        if geolocation is not None:
            options.update(geolocation=geolocation, permissions=["geolocation"])
        context = browser.new_context(**options)
        contexts.append(context)

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == own_host:
                route.continue_()
            else:
                foreign.append(url)
                route.abort()

        context.route("**/*", guard)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert not foreign, f"pages asked for other hosts than the app's own: {foreign}"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """Save the page as artifacts/screenshots/<test>-<name>.png; returns the path."""

    def save(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        test = re.sub(r"[^\w.-]+", "_", request.node.name)
        path = ARTIFACTS / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
