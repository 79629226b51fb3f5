"""Coverage fixtures: a controllable clock, and one seeded, compiled demo program shared by the package."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from tests.coverage.seeded import MEXICO_CITY, Clock, CompiledDemo, compiled_demo


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Mexico City, 20 August 2024 (rainy season), 09:00; move it on with ``clock.set(clock.local(18))``."""
    current = Clock(datetime(2024, 8, 20, 9, 0, tzinfo=MEXICO_CITY))
    monkeypatch.setattr(timezone, "now", current)
    return current


@pytest.fixture(scope="package")
def demo(django_db_setup, django_db_blocker) -> CompiledDemo:
    """The seeded program with its hand-made edge cases, compiled once; plain data, the database rolled back."""
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", Clock(datetime(2024, 8, 20, 10, 0, tzinfo=MEXICO_CITY)))
        return compiled_demo()
