"""Coverage facts: synced rows equal rebuilt rows after every kind of write; rebuilt when syncing cannot be trusted.

The recount tests (test_compile_recount) check the figures against the source tables; these check
the facts' own bookkeeping: which requests a sync derives again, which alcaldías it reports, and
when it refuses to sync and rebuilds instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from coverage.compile import Contributions, PartTables, part_apply, part_from_rows
from coverage.facts import facts_state, facts_sync
from coverage.models import CoverageFact, SnapshotKind
from coverage.services import coverage_compile_begin, coverage_refresh_request
from installations.lifecycle import WORKING_SYSTEM_STATUSES, Status
from installations.models import Applicant, Application, Colonia, Installation, MaintenanceVisit, RainfallReference
from tests.coverage.seeded import TODAY, compile_now, figures_of
from tests.factories import ApplicationFactory, InstallationFactory, MaintenanceVisitFactory
from worker.models import Job, JobState


def facts_table() -> dict[int, dict[str, Any]]:
    return {row["application_id"]: row for row in CoverageFact.objects.values()}


def rebuilt_facts() -> dict[int, dict[str, Any]]:
    """What a rebuild from the source tables gives now (inside a savepoint, rolled back)."""
    from django.db import transaction

    with transaction.atomic():
        facts_sync(rebuild=True)
        table = facts_table()
        transaction.set_rollback(True)
    return table


def working_system(alcaldia: str) -> Installation:
    return (
        Installation.objects.filter(
            dwelling__colonia__alcaldia_id=alcaldia, removed_on=None, application__status__in=WORKING_SYSTEM_STATUSES
        )
        .select_related("application__applicant", "dwelling")
        .order_by("pk")
        .first()
    )


# --- The writes a sync must see ---------------------------------------------------------------------------------
def _maintenance_visit() -> set[str]:
    MaintenanceVisitFactory(installation=working_system("09005"), visited_on=TODAY, next_due_on=TODAY + timedelta(days=90))
    return {"09005"}


def _status_change() -> set[str]:
    application = working_system("09005").application
    application.status = Status.NEEDS_MAINTENANCE
    application.save()
    return {"09005"}


def _applicant_correction() -> set[str]:
    applicant = working_system("09007").application.applicant
    applicant.sex = Applicant.Sex.MAN if applicant.sex == Applicant.Sex.WOMAN else Applicant.Sex.WOMAN
    applicant.save()
    return {"09007"}


def _dwelling_occupants() -> set[str]:
    dwelling = working_system("09007").dwelling
    dwelling.occupants = (dwelling.occupants or 0) + 3
    dwelling.save()
    return {"09007"}


def _dwelling_moved_to_another_alcaldia() -> set[str]:
    dwelling = working_system("09005").dwelling
    dwelling.colonia = Colonia.objects.filter(alcaldia_id="09007").order_by("pk").first()
    dwelling.save()
    return {"09005", "09007"}


def _system_removed() -> set[str]:
    installation = working_system("09009")
    installation.removed_on = TODAY
    installation.save()
    return {"09009"}


def _new_request_and_system() -> set[str]:
    colonia = Colonia.objects.filter(alcaldia_id="09009").order_by("pk").first()
    InstallationFactory(application=ApplicationFactory(dwelling__colonia=colonia, status=Status.INSTALLED))
    return {"09009"}


@pytest.mark.parametrize(
    "change",
    [
        _maintenance_visit,
        _status_change,
        _applicant_correction,
        _dwelling_occupants,
        _dwelling_moved_to_another_alcaldia,
        _system_removed,
        _new_request_and_system,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_sync_derives_again_exactly_the_changed_requests_and_reports_their_alcaldias(
    demo_program, clock, change: Callable[[], set[str]]
):
    # given
    clock.set(clock.local(18))
    facts_sync()
    before = facts_table()
    clock.set(clock.local(18, 10))
    affected = change()
    # when
    clock.set(clock.local(18, 20))
    sync = facts_sync()
    # then
    assert not sync.rebuilt
    assert sync.alcaldias == affected
    assert 1 <= sync.rows <= 3
    after = facts_table()
    assert after == rebuilt_facts()
    assert after != before


def test_a_sync_with_nothing_changed_derives_nothing(demo_program, clock):
    clock.set(clock.local(18))
    facts_sync()
    clock.set(clock.local(18, 20))

    sync = facts_sync()

    assert (sync.rebuilt, sync.rows, sync.alcaldias) == (False, 0, frozenset())


# --- When they are rebuilt instead -------------------------------------------------------------------------------
def _delete_a_maintenance_visit() -> None:
    MaintenanceVisit.objects.filter(installation=working_system("09005")).order_by("pk").first().delete()


def _move_a_system_to_another_request() -> None:
    installation = working_system("09005")
    other = ApplicationFactory(dwelling=installation.dwelling, status=Status.INSTALLED)
    installation.application = other
    installation.save()


def _correct_a_rainfall() -> None:
    reference = RainfallReference.objects.get(alcaldia_id="09009")
    reference.annual_mm = Decimal("1100.0")
    reference.save()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_delete_a_maintenance_visit, "source rows deleted"),
        (_move_a_system_to_another_request, "visits or systems moved to another request"),
        (_correct_a_rainfall, "reference data changed"),
    ],
    ids=["deletion", "child-move", "reference"],
)
def test_writes_a_sync_cannot_follow_make_it_rebuild(demo_program, clock, change, reason):
    # given
    clock.set(clock.local(18))
    facts_sync()
    clock.set(clock.local(18, 10))
    change()
    # when
    clock.set(clock.local(18, 20))
    sync = facts_sync()
    # then
    assert (sync.rebuilt, sync.reason) == (True, reason)
    assert sync.rows == Application.objects.count() == CoverageFact.objects.count()
    assert facts_table() == rebuilt_facts()


def test_the_first_sync_and_the_first_of_each_day_rebuild(demo_program, clock):
    clock.set(clock.local(17))
    first = facts_sync()
    clock.set(clock.local(18))
    same_day = facts_sync()
    clock.set(clock.local(0, 5, days=1))
    next_day = facts_sync()

    assert (first.rebuilt, first.reason) == (True, "never built")
    assert not same_day.rebuilt
    assert (next_day.rebuilt, next_day.reason) == (True, "first compile of the day")


def test_a_compile_asked_to_rebuild_the_facts_does_so(demo_program, clock):
    clock.set(clock.local(18))
    compile_now()
    clock.set(clock.local(18, 20))
    job, _ = coverage_refresh_request(by=None, rebuild_facts=True)

    coverage_compile_begin(job.pk)

    snapshot = Job.objects.get(pk=job.pk).snapshot
    assert snapshot.parameters["facts"] == {"rebuilt": True, "reason": "asked for", "rows": Application.objects.count()}


# --- Facts and incremental bases -----------------------------------------------------------------------------------
def test_a_compile_abandoned_after_its_sync_does_not_leave_the_next_incremental_with_stale_parts(demo_program, clock):
    """The abandoned compile synced a change into the facts; the next one must not take the old parts as they are."""
    # given
    clock.set(clock.local(18))
    base = compile_now()
    clock.set(clock.local(18, 10))
    _status_change()
    clock.set(clock.local(18, 15))
    abandoned, _ = coverage_refresh_request(by=None, incremental=True)
    coverage_compile_begin(abandoned.pk)  # facts synced; then the worker dies for good
    Job.objects.filter(pk=abandoned.pk).update(state=JobState.FAILED)
    # when
    clock.set(clock.local(18, 20))
    incremental = compile_now(incremental=True)
    clock.set(clock.local(18, 30))
    full = compile_now()
    # then
    assert facts_state().snapshot_id == full.pk
    assert incremental.kind == SnapshotKind.FULL  # its would-be base did not sync the facts last
    assert figures_of(incremental) == figures_of(full) != figures_of(base)


def test_a_maintenance_visit_recorded_ahead_of_the_cut_off_is_not_counted_as_maintenance_yet(demo_program, clock):
    """The facts keep the latest visit; one dated after the cut-off date must not hide an earlier one."""
    # given: a system visited 30 days ago and again (recorded ahead) 10 days from now
    clock.set(clock.local(18))
    installation = working_system("09005")
    MaintenanceVisit.objects.filter(installation=installation).delete()
    MaintenanceVisitFactory(installation=installation, visited_on=TODAY - timedelta(days=30))
    base = compile_now()
    clock.set(clock.local(18, 10))
    MaintenanceVisitFactory(installation=installation, visited_on=TODAY + timedelta(days=10))
    # when
    clock.set(clock.local(18, 20))
    snapshot = compile_now()
    # then: still maintained in the last 12 months, as before the visit ahead was recorded
    city = snapshot.slices.get(program_year=0, alcaldia="09005", modality="").figures
    assert city == base.slices.get(program_year=0, alcaldia="09005", modality="").figures


# --- Bringing a part up to date ---------------------------------------------------------------------------------
def _part(cube: list[list[Any]], monthly: list[list[Any]]) -> PartTables:
    return part_from_rows(cube, monthly)


def test_a_part_brought_up_to_date_adds_the_new_contributions_takes_out_the_old_and_drops_emptied_groups():
    # given: two groups; a request moves from the first to a new group, and the second group's only request goes
    first = [2024, 7, "total", "M", True, "instalado", 2, 2, 2, 2, 8, 5000, 100, 1, 0]
    second = [2024, 7, "total", "H", False, "registrado", 1, 0, 0, 0, 0, 0, 0, 0, 0]
    base = _part([first, second], [[2024, "total", "2024-05", 2]])
    minus = Contributions(
        cube=[[2024, 7, "total", "M", True, "instalado", 1, 1, 1, 1, 4, 2500, 50, 1, 0], second],
        monthly=[[2024, "total", "2024-05", 1]],
    )
    plus = Contributions(
        cube=[[2024, 7, "total", "M", True, "retirado", 1, 1, 1, 0, 0, 0, 0, 0, 0]], monthly=[[2024, "total", "2024-05", 1]]
    )
    # when
    updated = part_apply(base, plus=plus, minus=minus)
    # then
    assert updated.cube["rows"] == [
        [2024, 7, "total", "M", True, "instalado", 1, 1, 1, 1, 4, 2500, 50, 0, 0],
        [2024, 7, "total", "M", True, "retirado", 1, 1, 1, 0, 0, 0, 0, 0, 0],
    ]
    assert updated.monthly["rows"] == [[2024, "total", "2024-05", 2]]
    assert updated.source_rows == 2


def test_taking_out_requests_a_part_never_held_is_refused():
    base = _part([[2024, 7, "total", "M", True, "instalado", 1, 1, 1, 1, 4, 2500, 50, 1, 0]], [])
    minus = Contributions(cube=[[2024, 7, "total", "M", True, "instalado", 1, 1, 1, 1, 9, 2500, 50, 1, 0]], monthly=[])

    with pytest.raises(ValueError, match="went negative"):
        part_apply(base, plus=None, minus=minus)
