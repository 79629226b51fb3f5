"""Coverage fixtures: a controllable clock, and one seeded, compiled demo program shared by the package."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.management import call_command
from django.db.models import Max
from django.utils import timezone

from installations.models import Applicant, Application, Colonia, Dwelling, Installation, MaintenanceVisit, TechnicalVisit
from tests.coverage.seeded import MEXICO_CITY, TODAY, Clock, CompiledDemo, compiled_demo


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


@pytest.fixture
def demo_program(db, clock) -> list[str]:
    """A smaller seeded program over the demo's alcaldías, all of it saved before 18:00 on TODAY."""
    call_command("seed_demo", installations=150, seed=11, today=TODAY, verbosity=0)
    models = (Application, Applicant, Dwelling, TechnicalVisit, Installation, MaintenanceVisit)
    last_saved = max(model.objects.aggregate(last=Max("updated_at"))["last"] for model in models)
    assert last_saved < clock.local(17, 58), "the incremental tests need the demo saved before the first compile's margin"
    return sorted(set(Colonia.objects.values_list("alcaldia_id", flat=True)))
