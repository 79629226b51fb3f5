"""Coverage compiles as services: published whole or not at all, each step safe to repeat, incremental = full.

The clock fixture (conftest) fixes Mexico City's day at 20 August 2024 and lets a test move the
time of day, so that "changed since the last snapshot" and "a snapshot of an earlier day" are exact.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.db.models import Q

from coverage import services
from coverage.models import CoveragePart, CoverageSlice, CoverageSnapshot, SnapshotKind, SnapshotState
from coverage.services import (
    SNAPSHOTS_KEPT,
    IncompleteSnapshotError,
    coverage_compile_begin,
    coverage_compile_inline,
    coverage_latest_snapshot,
    coverage_merge,
    coverage_part_compute,
    coverage_refresh_if_changed,
    coverage_refresh_request,
)
from installations.lifecycle import WORKING_SYSTEM_STATUSES, Status
from installations.models import (
    Application,
    Colonia,
    Installation,
    MaintenanceVisit,
    RainfallReference,
)
from tests.coverage.seeded import TODAY, compile_now, figures_of
from tests.factories import ApplicationFactory, ColoniaFactory, InstallationFactory, MaintenanceVisitFactory
from worker.models import Job, JobKind, JobState, OutboxMessage

SMALL_ALCALDIAS = ["09002", "09007", "09009"]


# --- Data and helpers ---------------------------------------------------------------------------------------
@pytest.fixture
def small_program(db, clock) -> list[str]:
    """Two requests (one with a working system) in each of three alcaldías."""
    for code in SMALL_ALCALDIAS:
        colonia = ColoniaFactory(alcaldia_id=code)
        ApplicationFactory(dwelling__colonia=colonia)
        MaintenanceVisitFactory(
            installation=InstallationFactory(application__dwelling__colonia=colonia),
            visited_on=date(2024, 4, 1),
        )
    return SMALL_ALCALDIAS


def alcaldia_order(snapshot: CoverageSnapshot) -> list[str]:
    city = snapshot.slices.get(program_year=0, alcaldia="", modality="")
    return [row["alcaldia"] for row in city.figures["by_alcaldia"]]


def begin_with_every_part(*, incremental: bool = False) -> tuple[Job, CoverageSnapshot]:
    """A compile whose parts are all stored but whose merge has not run."""
    job, _ = coverage_refresh_request(by=None, incremental=incremental)
    plan = coverage_compile_begin(job.pk)
    assert plan is not None
    for alcaldia in plan.alcaldias_to_compute:
        assert coverage_part_compute(plan.snapshot_id, alcaldia)
    return job, CoverageSnapshot.objects.get(pk=plan.snapshot_id)


# --- Publishing whole ------------------------------------------------------------------------------------------
def test_no_snapshot_is_served_before_the_first_compile_is_merged(small_program, clock):
    begin_with_every_part()
    assert coverage_latest_snapshot() is None


def test_while_a_compile_is_building_readers_get_the_previous_snapshot(small_program, clock):
    # given
    clock.set(clock.local(18))
    first = compile_now()
    clock.set(clock.local(18, 5))
    # when
    _job, building = begin_with_every_part()
    # then
    assert building.state == SnapshotState.BUILDING
    assert coverage_latest_snapshot() == first
    # when
    published = coverage_merge(building.pk)
    # then
    assert published == building
    assert coverage_latest_snapshot() == building
    assert CoverageSnapshot.objects.get(pk=building.pk).state == SnapshotState.READY


def _fail_in_build_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("pandas ran out of memory")

    monkeypatch.setattr(services, "build_scopes", broken)


def _fail_halfway_through_the_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last slice repeats the first: the database refuses it once the others are written."""
    original = services.build_scopes

    def with_a_duplicate_last(*args: Any, **kwargs: Any) -> list[Any]:
        scopes = original(*args, **kwargs)
        return [*scopes, scopes[0]]

    monkeypatch.setattr(services, "build_scopes", with_a_duplicate_last)


def _fail_after_the_flip(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("connection lost after the snapshot was marked ready")

    monkeypatch.setattr(services, "job_succeed", broken)


@pytest.mark.parametrize(
    "failure", [_fail_in_build_scopes, _fail_halfway_through_the_slices, _fail_after_the_flip], ids=lambda f: f.__name__
)
def test_a_merge_that_fails_midway_leaves_nothing_of_the_new_snapshot_visible(small_program, clock, monkeypatch, failure):
    # given
    clock.set(clock.local(18))
    first = compile_now()
    clock.set(clock.local(18, 5))
    job, building = begin_with_every_part()
    # when
    with monkeypatch.context() as patch:
        failure(patch)
        with pytest.raises((RuntimeError, IntegrityError)):
            coverage_merge(building.pk)
    # then
    building.refresh_from_db()
    assert building.state == SnapshotState.BUILDING
    assert building.published_at is None
    assert not CoverageSlice.objects.filter(snapshot=building).exists()
    assert coverage_latest_snapshot() == first
    assert Job.objects.get(pk=job.pk).state == JobState.RUNNING
    # and a retry of the merge publishes it whole
    assert coverage_merge(building.pk) == building
    assert coverage_latest_snapshot() == building
    assert CoverageSlice.objects.filter(snapshot=building).count() == CoverageSlice.objects.filter(snapshot=first).count()


# --- Each step safe to repeat -------------------------------------------------------------------------------------
def test_computing_a_part_twice_stores_it_once_and_counts_the_step_once(small_program, clock):
    # given
    job, _ = coverage_refresh_request(by=None)
    plan = coverage_compile_begin(job.pk)
    alcaldia = plan.alcaldias_to_compute[0]
    # when
    first = coverage_part_compute(plan.snapshot_id, alcaldia)
    second = coverage_part_compute(plan.snapshot_id, alcaldia)
    # then
    assert (first, second) == (True, False)
    assert CoveragePart.objects.filter(snapshot_id=plan.snapshot_id, alcaldia_id=alcaldia).count() == 1
    job.refresh_from_db()
    assert (job.state, job.progress_done, job.progress_total) == (JobState.RUNNING, 1, len(small_program) + 1)


def test_beginning_again_after_a_crash_resumes_the_same_snapshot_with_the_missing_parts(small_program, clock):
    job, _ = coverage_refresh_request(by=None)
    plan = coverage_compile_begin(job.pk)
    coverage_part_compute(plan.snapshot_id, plan.alcaldias_to_compute[0])

    again = coverage_compile_begin(job.pk)

    assert again.snapshot_id == plan.snapshot_id
    assert again.alcaldias_to_compute == plan.alcaldias_to_compute[1:]
    assert CoverageSnapshot.objects.filter(job=job).count() == 1


def test_merging_twice_publishes_once(small_program, clock):
    # given
    job, building = begin_with_every_part()
    # when
    first = coverage_merge(building.pk)
    job.refresh_from_db()
    finished_at, slices = job.finished_at, CoverageSlice.objects.filter(snapshot=building).count()
    second = coverage_merge(building.pk)
    # then
    assert first == building
    assert second is None
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    assert job.finished_at == finished_at
    assert job.result["snapshot"] == building.pk
    assert (job.progress_done, job.progress_total) == (len(small_program) + 1, len(small_program) + 1)
    assert CoverageSlice.objects.filter(snapshot=building).count() == slices
    assert CoverageSnapshot.objects.filter(state=SnapshotState.READY).count() == 1


def test_merging_before_every_part_is_stored_is_refused_and_publishes_nothing(small_program, clock):
    # given
    job, _ = coverage_refresh_request(by=None)
    plan = coverage_compile_begin(job.pk)
    *computed, missing = plan.alcaldias_to_compute
    for alcaldia in computed:
        coverage_part_compute(plan.snapshot_id, alcaldia)
    # when / then
    with pytest.raises(IncompleteSnapshotError, match=missing):
        coverage_merge(plan.snapshot_id)
    assert CoverageSnapshot.objects.get(pk=plan.snapshot_id).state == SnapshotState.BUILDING
    assert not CoverageSlice.objects.filter(snapshot_id=plan.snapshot_id).exists()
    assert coverage_latest_snapshot() is None


def test_asking_twice_while_a_compile_is_queued_reuses_the_job_and_its_one_message(
    small_program, clock, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        first, first_created = coverage_refresh_request(by=None)
        second, second_created = coverage_refresh_request(by=None, incremental=True)
    # then
    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert Job.objects.count() == 1
    message = OutboxMessage.objects.get()
    assert (message.task_name, message.args, message.queue) == (
        "worker.tasks.coverage.coverage_compile_task",
        [str(first.pk)],
        "statistics",
    )
    assert len(callbacks) == 1


def test_asking_while_a_compile_runs_reuses_it_and_after_it_finished_starts_another(small_program, clock):
    job, _ = coverage_refresh_request(by=None)
    coverage_compile_begin(job.pk)
    assert coverage_refresh_request(by=None) == (job, False)

    coverage_compile_inline(job)
    again, created = coverage_refresh_request(by=None)

    assert created and again.pk != job.pk
    assert OutboxMessage.objects.count() == 2


# --- Incremental compiles ---------------------------------------------------------------------------------------
def _working_system(alcaldia: str) -> Installation:
    return (
        Installation.objects.filter(
            dwelling__colonia__alcaldia_id=alcaldia, removed_on=None, application__status__in=WORKING_SYSTEM_STATUSES
        )
        .select_related("application__applicant", "dwelling")
        .order_by("pk")
        .first()
    )


def _record_a_maintenance_visit(alcaldia: str) -> None:
    not_maintained_lately = (
        Installation.objects.filter(
            dwelling__colonia__alcaldia_id=alcaldia, removed_on=None, application__status__in=WORKING_SYSTEM_STATUSES
        )
        .exclude(maintenance_visits__visited_on__gt=TODAY - timedelta(days=365))
        .order_by("pk")
        .first()
    )
    MaintenanceVisitFactory(installation=not_maintained_lately, visited_on=TODAY, next_due_on=TODAY + timedelta(days=180))


def _flag_a_system(alcaldia: str) -> None:
    application = Application.objects.get(installation=_working_system(alcaldia).pk)
    application.status = Status.INACTIVE
    application.save()


def _correct_an_applicants_household(alcaldia: str) -> None:
    applicant = _working_system(alcaldia).application.applicant
    applicant.woman_headed_household = not applicant.woman_headed_household
    applicant.save()


def _remove_a_system(alcaldia: str) -> None:
    installation = _working_system(alcaldia)
    installation.removed_on = TODAY
    installation.save()


@pytest.mark.parametrize(
    "change",
    [_record_a_maintenance_visit, _flag_a_system, _correct_an_applicants_household, _remove_a_system],
    ids=lambda f: f.__name__.strip("_"),
)
def test_an_incremental_compile_recomputes_only_the_changed_alcaldia_and_equals_a_full_one(demo_program, clock, change):
    # given
    changed = "09005"
    clock.set(clock.local(18))
    base = compile_now()
    clock.set(clock.local(18, 10))
    change(changed)
    # when
    clock.set(clock.local(18, 20))
    incremental = compile_now(incremental=True)
    clock.set(clock.local(18, 30))
    full = compile_now()
    # then
    assert incremental.kind == SnapshotKind.INCREMENTAL
    assert incremental.base == base
    assert incremental.parameters["recomputed"] == [changed]
    assert incremental.parameters["updated_from_base"] == [changed]  # base part + changed requests' delta
    assert incremental.job.progress_total == 1  # the merge: no part task
    assert full.kind == SnapshotKind.FULL
    assert full.parameters["recomputed"] == demo_program
    assert figures_of(incremental) == figures_of(full)
    assert figures_of(incremental) != figures_of(base)


def _move_a_dwelling_to_another_alcaldia() -> set[str]:
    """An address correction in the admin: the dwelling's colonia is in another alcaldía."""
    dwelling = _working_system("09005").dwelling
    dwelling.colonia = Colonia.objects.filter(alcaldia_id="09007").order_by("pk").first()
    dwelling.save()
    return {"09005", "09007"}


def _delete_a_recent_maintenance_visit() -> set[str]:
    """An administrator deletes a visit recorded by mistake (the admin allows it)."""
    visit = (
        MaintenanceVisit.objects.filter(
            installation__dwelling__colonia__alcaldia_id="09005",
            installation__removed_on=None,
            installation__application__status__in=WORKING_SYSTEM_STATUSES,
        )
        .order_by("-visited_on", "pk")
        .first()
    )
    visit.delete()
    return {"09005"}


def _correct_an_alcaldias_rainfall() -> set[str]:
    """An administrator corrects Milpa Alta's reference rainfall (reference data, edited in the admin)."""
    reference = RainfallReference.objects.get(alcaldia_id="09009")
    reference.annual_mm = Decimal("1100.0")
    reference.save()
    return {"09009"}


@pytest.mark.parametrize(
    "change",
    [_move_a_dwelling_to_another_alcaldia, _delete_a_recent_maintenance_visit, _correct_an_alcaldias_rainfall],
    ids=lambda f: f.__name__.strip("_"),
)
def test_an_incremental_compile_after_a_change_no_row_timestamp_shows_equals_a_full_one(demo_program, clock, change):
    """Changes that leave no updated_at behind in the alcaldía they affect: a move away, a deletion, reference data."""
    # given
    clock.set(clock.local(18))
    base = compile_now()
    clock.set(clock.local(18, 10))
    affected = change()
    # when
    clock.set(clock.local(18, 20))
    incremental = compile_now(incremental=True)
    clock.set(clock.local(18, 30))
    full = compile_now()
    # then
    assert figures_of(full) != figures_of(base)
    assert figures_of(incremental) == figures_of(full), (
        f"incremental recomputed {incremental.parameters['recomputed']}, the change affected {sorted(affected)}"
    )


def test_an_incremental_compile_asked_on_a_later_day_compiles_everything(demo_program, clock):
    # given
    clock.set(clock.local(18))
    compile_now()
    clock.set(clock.local(9, days=1))
    # when
    snapshot = compile_now(incremental=True)
    # then
    assert snapshot.kind == SnapshotKind.FULL
    assert snapshot.base is None
    assert snapshot.as_of == TODAY + timedelta(days=1)
    assert snapshot.parameters["recomputed"] == demo_program
    assert snapshot.parameters["maintenance_window"]["twelve_months_ago"] == "2023-08-21"


def test_the_alcaldias_are_listed_in_code_order_whatever_order_their_parts_were_stored_in(small_program, clock):
    # given: the workers of a chord store the parts in whatever order they finish
    job, _ = coverage_refresh_request(by=None)
    plan = coverage_compile_begin(job.pk)
    for alcaldia in reversed(plan.alcaldias_to_compute):
        coverage_part_compute(plan.snapshot_id, alcaldia)
    # when
    snapshot = coverage_merge(plan.snapshot_id)
    # then
    assert alcaldia_order(snapshot) == sorted(small_program)


def test_an_incremental_snapshot_lists_the_alcaldias_in_the_same_order_as_a_full_one(demo_program, clock):
    clock.set(clock.local(18))
    full = compile_now()
    clock.set(clock.local(18, 10))
    _record_a_maintenance_visit("09005")
    clock.set(clock.local(18, 20))

    incremental = compile_now(incremental=True)

    assert alcaldia_order(full) == demo_program
    assert alcaldia_order(incremental) == alcaldia_order(full)


def test_the_periodic_refresh_queues_nothing_when_nothing_changed(demo_program, clock):
    clock.set(clock.local(18))
    compile_now()
    jobs = Job.objects.count()
    clock.set(clock.local(18, 15))

    assert coverage_refresh_if_changed() is None
    assert Job.objects.count() == jobs


def test_the_periodic_refresh_queues_an_incremental_compile_once_after_a_change(demo_program, clock):
    clock.set(clock.local(18))
    compile_now()
    clock.set(clock.local(18, 10))
    _record_a_maintenance_visit("09005")

    job = coverage_refresh_if_changed()
    again = coverage_refresh_if_changed()  # the compile is still queued

    assert job is not None and job.kind == JobKind.COVERAGE_INCREMENTAL
    assert again is None
    assert coverage_compile_inline(job).parameters["recomputed"] == ["09005"]


def test_the_periodic_refresh_rebuilds_in_full_on_a_new_day_and_on_the_first_run(demo_program, clock):
    first = coverage_refresh_if_changed()
    assert first is not None and first.kind == JobKind.COVERAGE_FULL
    coverage_compile_inline(first)
    clock.set(clock.local(0, 5, days=1))

    next_day = coverage_refresh_if_changed()

    assert next_day is not None and next_day.kind == JobKind.COVERAGE_FULL


# --- Keeping a few snapshots ------------------------------------------------------------------------------------
def test_only_the_latest_snapshots_are_kept_with_their_parts_and_slices(small_program, clock):
    # given
    published = []
    for minute in range(SNAPSHOTS_KEPT + 2):
        clock.set(clock.local(10, minute))
        published.append(compile_now())
    # then
    kept = list(CoverageSnapshot.objects.filter(state=SnapshotState.READY).order_by("published_at"))
    assert kept == published[-SNAPSHOTS_KEPT:]
    assert coverage_latest_snapshot() == published[-1]
    gone = [s.pk for s in published[:2]]
    assert not CoveragePart.objects.filter(Q(snapshot_id__in=gone) | Q(computed_for_id__in=gone)).exists()
    assert not CoverageSlice.objects.filter(snapshot_id__in=gone).exists()
    assert Job.objects.filter(state=JobState.SUCCEEDED).count() == SNAPSHOTS_KEPT + 2


# --- The command ---------------------------------------------------------------------------------------------------
def test_the_command_compiles_inline_publishes_and_says_so_in_spanish(small_program, clock):
    out = StringIO()

    call_command("compile_coverage", "--inline", stdout=out)

    snapshot = coverage_latest_snapshot()
    assert snapshot is not None
    text = out.getvalue()
    assert f"Trabajo {snapshot.job.pk} (nuevo)." in text
    assert f"Corte {snapshot.pk} publicado: 6 solicitudes" in text
    assert snapshot.job.state == JobState.SUCCEEDED


def test_the_command_rebuilds_the_facts_when_asked(small_program, clock):
    call_command("compile_coverage", "--inline", stdout=StringIO())
    clock.set(clock.local(18))

    call_command("compile_coverage", "--inline", "--rebuild-facts", stdout=StringIO())

    facts = coverage_latest_snapshot().parameters["facts"]
    assert facts == {"rebuilt": True, "reason": "asked for", "rows": 6}


@pytest.mark.parametrize("timeout", ["0", "-5"])
def test_the_command_refuses_a_timeout_that_is_not_positive_in_spanish(small_program, clock, timeout):
    with pytest.raises(CommandError, match="--timeout: debe ser un número de segundos mayor que cero"):
        call_command("compile_coverage", "--timeout", timeout)
    assert not Job.objects.exists()
