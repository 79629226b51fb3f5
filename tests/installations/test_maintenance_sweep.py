"""The maintenance sweep: which systems are overdue and why, the flags it sets and the reminders it writes once."""

import random
from datetime import date, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from installations import maintenance
from installations.exceptions import TransitionError
from installations.lifecycle import TRANSITIONS, Status
from installations.maintenance import (
    OVERDUE_REASONS,
    OverdueReason,
    SweepResult,
    in_rainy_season,
    maintenance_sweep,
    overdue_systems,
    preparation_starts_on,
    season_of,
)
from installations.models import Application, Installation, MaintenanceReminder, StatusChange
from installations.services import application_transition
from tests.factories import InstallationFactory, MaintenanceVisitFactory

# Outside the rainy season (season 2025's preparation window): only the flag and the due date count.
WINTER_DAY = date(2025, 1, 15)
RAINY_DAY = date(2025, 5, 2)
LONG_AGO = date(2023, 5, 1)  # installed before any preparation window these tests use


def system(
    *,
    status: str = Status.ACTIVE,
    installed_on: date = LONG_AGO,
    removed_on: date | None = None,
    visits: tuple[tuple[date, date], ...] = (),
) -> Installation:
    """A system whose request is in ``status``, with maintenance visits given as (visited_on, next_due_on)."""
    installation = InstallationFactory(application__status=status, installed_on=installed_on, removed_on=removed_on)
    for visited_on, next_due_on in visits:
        MaintenanceVisitFactory(installation=installation, visited_on=visited_on, next_due_on=next_due_on)
    return installation


def overdue(today: date) -> dict[int, str]:
    return dict(overdue_systems(today=today).values_list("pk", "overdue_reason"))


def reminders() -> dict[tuple[int, int], str]:
    return {(r.installation_id, r.season): r.reason for r in MaintenanceReminder.objects.all()}


def status_of(installation: Installation) -> str:
    return Application.objects.values_list("status", flat=True).get(pk=installation.application_id)


def flags_of(installation: Installation) -> list[StatusChange]:
    return list(StatusChange.objects.filter(application_id=installation.application_id, to_status=Status.NEEDS_MAINTENANCE))


# --- Seasons ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "season"),
    [
        (date(2025, 1, 1), 2025),
        (date(2025, 4, 30), 2025),
        (date(2025, 5, 1), 2025),
        (date(2025, 10, 31), 2025),
        (date(2025, 11, 1), 2026),
        (date(2025, 12, 31), 2026),
    ],
)
def test_a_day_belongs_to_the_season_of_its_year_until_october_and_to_the_next_from_november(day, season):
    assert season_of(day) == season


def test_a_seasons_preparation_window_opens_on_1_november_of_the_year_before():
    assert preparation_starts_on(2025) == date(2024, 11, 1)


@pytest.mark.parametrize(
    ("day", "rainy"),
    [(date(2025, 4, 30), False), (date(2025, 5, 1), True), (date(2025, 10, 31), True), (date(2025, 11, 1), False)],
)
def test_the_rainy_season_is_may_to_october(day, rainy):
    assert in_rainy_season(day) is rainy


def test_the_reasons_are_listed_in_order_of_precedence_with_spanish_labels():
    assert [reason.value for reason in OVERDUE_REASONS] == ["flagged", "due_date_passed", "no_preseason_visit"]
    assert str(OverdueReason.DUE_DATE_PASSED.label) == "Pasó la fecha del próximo mantenimiento"


# --- Each rule ---------------------------------------------------------------------------------------------
def test_a_system_flagged_as_needing_maintenance_is_overdue(db):
    flagged = system(status=Status.NEEDS_MAINTENANCE, visits=((date(2024, 12, 1), date(2025, 6, 1)),))

    assert overdue(WINTER_DAY) == {flagged.pk: OverdueReason.FLAGGED}


def test_a_system_whose_next_maintenance_date_has_passed_is_overdue(db):
    late = system(visits=((date(2024, 7, 1), WINTER_DAY - timedelta(days=1)),))

    assert overdue(WINTER_DAY) == {late.pk: OverdueReason.DUE_DATE_PASSED}


def test_a_system_due_today_is_not_overdue_yet(db):
    system(visits=((date(2024, 7, 1), WINTER_DAY),))

    assert overdue(WINTER_DAY) == {}


def test_the_latest_next_maintenance_date_counts_not_an_older_one(db):
    system(visits=((date(2024, 1, 10), date(2024, 7, 10)), (date(2024, 7, 1), date(2025, 3, 1))))

    assert overdue(WINTER_DAY) == {}


def test_a_system_never_visited_is_not_overdue_by_date_outside_the_rainy_season(db):
    system(installed_on=LONG_AGO)

    assert overdue(WINTER_DAY) == {}


@pytest.mark.parametrize(
    ("today", "installed_on", "visits", "is_overdue"),
    [
        pytest.param(date(2025, 5, 1), date(2024, 10, 31), (), True, id="first-rainy-day"),
        pytest.param(date(2025, 4, 30), date(2024, 10, 31), (), False, id="last-preparation-day"),
        pytest.param(date(2025, 10, 31), date(2024, 10, 31), (), True, id="last-rainy-day"),
        pytest.param(date(2025, 11, 1), date(2024, 10, 31), (), False, id="next-preparation-window"),
        pytest.param(date(2025, 5, 1), date(2024, 11, 1), (), False, id="installed-in-the-preparation-window"),
        pytest.param(
            date(2025, 5, 1), date(2024, 10, 31), ((date(2024, 11, 1), date(2025, 11, 1)),), False, id="visited-on-1-november"
        ),
        pytest.param(
            date(2025, 5, 1), date(2024, 10, 31), ((date(2024, 10, 31), date(2025, 10, 31)),), True, id="visited-a-day-early"
        ),
        pytest.param(
            date(2026, 5, 1), date(2024, 10, 31), ((date(2024, 11, 1), date(2026, 6, 1)),), True, id="last-seasons-visit"
        ),
    ],
)
def test_a_system_without_a_visit_since_its_preparation_window_is_overdue_in_the_rainy_season(
    db, today, installed_on, visits, is_overdue
):
    installation = system(installed_on=installed_on, visits=visits)

    expected = {installation.pk: OverdueReason.NO_PRESEASON_VISIT} if is_overdue else {}
    assert overdue(today) == expected


# --- Precedence ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "visits", "reason"),
    [
        (Status.NEEDS_MAINTENANCE, ((date(2024, 5, 1), date(2025, 1, 1)),), OverdueReason.FLAGGED),
        (Status.NEEDS_MAINTENANCE, (), OverdueReason.FLAGGED),
        (Status.ACTIVE, ((date(2024, 5, 1), date(2025, 1, 1)),), OverdueReason.DUE_DATE_PASSED),
        (Status.INSTALLED, ((date(2024, 5, 1), date(2025, 1, 1)),), OverdueReason.DUE_DATE_PASSED),
        (Status.INSTALLED, (), OverdueReason.NO_PRESEASON_VISIT),
    ],
)
def test_a_system_overdue_for_several_reasons_is_reported_with_the_first(db, status, visits, reason):
    # given a rainy day on which every system also lacks a pre-season visit
    installation = system(status=status, visits=visits)

    assert overdue(RAINY_DAY) == {installation.pk: reason}


# --- Systems that are not working -----------------------------------------------------------------------------
OVERDUE_FOR_EVERY_REASON = ((date(2024, 5, 1), date(2025, 1, 1)),)


@pytest.mark.parametrize(
    ("status", "removed_on"),
    [
        (Status.INACTIVE, None),
        (Status.REMOVED, date(2024, 6, 1)),
        (Status.REMOVED, None),
        (Status.INSTALLATION_SCHEDULED, None),
        (Status.NEEDS_MAINTENANCE, date(2024, 6, 1)),
        (Status.ACTIVE, date(2024, 6, 1)),
    ],
)
def test_removed_or_unused_systems_are_never_flagged_or_reminded(db, status, removed_on):
    installation = system(status=status, removed_on=removed_on, visits=OVERDUE_FOR_EVERY_REASON)

    result = maintenance_sweep(today=RAINY_DAY)

    assert overdue(RAINY_DAY) == {}
    assert result == SweepResult()
    assert status_of(installation) == status
    assert reminders() == {}
    assert flags_of(installation) == []


# --- The sweep ---------------------------------------------------------------------------------------------
def test_the_sweep_flags_an_overdue_active_system_and_reminds_it(db):
    # given
    installation = system(visits=((date(2024, 7, 1), date(2025, 4, 1)),))
    before = Application.objects.get(pk=installation.application_id)
    # when
    result = maintenance_sweep(today=RAINY_DAY)
    # then
    assert result == SweepResult(flagged=1, reminders_created=1, reminders_already_present=0)
    after = Application.objects.get(pk=installation.application_id)
    assert after.status == Status.NEEDS_MAINTENANCE
    assert after.version == before.version + 1
    assert after.status_changed_at is not None and after.status_changed_at != before.status_changed_at
    assert after.updated_at > before.updated_at
    (change,) = flags_of(installation)
    assert (change.from_status, change.changed_by, change.changed_at) == (Status.ACTIVE, None, after.status_changed_at)
    assert change.note == "Revisión diaria de mantenimiento: pasó la fecha del próximo mantenimiento."
    reminder = MaintenanceReminder.objects.get()
    assert (reminder.installation_id, reminder.season, reminder.reason, reminder.due_since, reminder.delivered_at) == (
        installation.pk,
        2025,
        OverdueReason.DUE_DATE_PASSED,
        RAINY_DAY,
        None,
    )


def test_the_flag_note_says_when_the_pre_season_visit_is_missing(db):
    installation = system()

    maintenance_sweep(today=RAINY_DAY)

    (change,) = flags_of(installation)
    assert change.note == "Revisión diaria de mantenimiento: sin visita de mantenimiento antes de la temporada de lluvias."


def test_the_flag_is_in_the_audit_trail_with_old_and_new_values(db):
    installation = system(visits=((date(2024, 7, 1), date(2025, 4, 1)),))
    version = Application.objects.get(pk=installation.application_id).version

    maintenance_sweep(today=RAINY_DAY)

    (entry,) = AuditEntry.objects.filter(
        model_label="installations.application", object_id=str(installation.application_id), action="bulk_update"
    )
    assert entry.changes["status"] == {"old": "active", "new": "needs_maintenance"}
    assert entry.changes["version"] == {"old": version, "new": version + 1}
    assert "status_changed_at" in entry.changes
    assert (entry.actor, entry.actor_role) == (None, "system")
    assert entry.note == "Revisión diaria de mantenimiento: pasó la fecha del próximo mantenimiento."


@pytest.mark.parametrize("status", [Status.INSTALLED, Status.NEEDS_MAINTENANCE])
def test_an_overdue_system_that_is_not_active_is_reminded_but_not_moved(db, status):
    installation = system(status=status, visits=((date(2024, 7, 1), date(2025, 4, 1)),))

    result = maintenance_sweep(today=RAINY_DAY)

    assert result == SweepResult(flagged=0, reminders_created=1, reminders_already_present=0)
    assert status_of(installation) == status
    assert flags_of(installation) == []
    assert set(reminders()) == {(installation.pk, 2025)}


def test_a_system_that_is_not_overdue_is_left_alone(db):
    installation = system(visits=((date(2024, 11, 5), date(2025, 5, 5)),))

    assert maintenance_sweep(today=RAINY_DAY) == SweepResult()
    assert status_of(installation) == Status.ACTIVE
    assert reminders() == {}


def test_the_sweep_twice_on_one_day_has_the_effect_of_once(db):
    # given one system of each overdue kind
    late = system(visits=((date(2024, 7, 1), date(2025, 4, 1)),))
    flagged = system(status=Status.NEEDS_MAINTENANCE)
    installed = system(status=Status.INSTALLED)
    # when
    first = maintenance_sweep(today=RAINY_DAY)
    second = maintenance_sweep(today=RAINY_DAY)
    # then
    assert first == SweepResult(flagged=1, reminders_created=3, reminders_already_present=0)
    assert second == SweepResult(flagged=0, reminders_created=0, reminders_already_present=3)
    assert reminders() == {
        (late.pk, 2025): OverdueReason.DUE_DATE_PASSED,
        (flagged.pk, 2025): OverdueReason.FLAGGED,
        (installed.pk, 2025): OverdueReason.NO_PRESEASON_VISIT,
    }
    assert [len(flags_of(s)) for s in (late, flagged, installed)] == [1, 0, 0]


def test_a_later_day_of_the_same_season_writes_no_new_reminder(db):
    installation = system()
    maintenance_sweep(today=RAINY_DAY)

    result = maintenance_sweep(today=date(2025, 8, 20))

    assert result == SweepResult(flagged=0, reminders_created=0, reminders_already_present=1)
    assert set(reminders()) == {(installation.pk, 2025)}


def test_the_next_season_gets_its_own_reminder(db):
    # given a system reminded (and flagged) in the 2025 season and never maintained since
    installation = system()
    maintenance_sweep(today=RAINY_DAY)
    # when the sweep runs in November, which already prepares the 2026 season
    result = maintenance_sweep(today=date(2025, 11, 3))
    # then
    assert result == SweepResult(flagged=0, reminders_created=1, reminders_already_present=0)
    assert reminders() == {
        (installation.pk, 2025): OverdueReason.NO_PRESEASON_VISIT,
        (installation.pk, 2026): OverdueReason.FLAGGED,
    }
    assert len(flags_of(installation)) == 1


def test_the_database_ignores_a_second_reminder_for_the_same_season(db):
    installation = system()
    maintenance_sweep(today=RAINY_DAY)

    created = MaintenanceReminder.objects.bulk_create(
        [MaintenanceReminder(installation=installation, season=2025, reason=OverdueReason.FLAGGED, due_since=RAINY_DAY)],
        ignore_conflicts=True,
    )

    assert len(created) == 1  # bulk_create returns its input; the table is what counts
    assert MaintenanceReminder.objects.filter(installation=installation, season=2025).count() == 1


# --- Concurrent changes -------------------------------------------------------------------------------------
def changed_between_picking_and_locking(monkeypatch, installation: Installation, to: str) -> None:
    """Someone moves the request after the sweep picked its batch and before it locked it."""
    original = maintenance._sweep_batch

    def racing(**kwargs: object) -> SweepResult:
        application_transition(application=installation.application, to=to, by=None, note="Reporte de la familia.")
        return original(**kwargs)

    monkeypatch.setattr(maintenance, "_sweep_batch", racing)


def test_a_system_flagged_meanwhile_is_not_flagged_twice(db, monkeypatch):
    # given
    installation = system(visits=((date(2024, 7, 1), date(2025, 4, 1)),))
    changed_between_picking_and_locking(monkeypatch, installation, Status.NEEDS_MAINTENANCE)
    # when
    result = maintenance_sweep(today=RAINY_DAY)
    # then
    assert result == SweepResult(flagged=0, reminders_created=1, reminders_already_present=0)
    (change,) = flags_of(installation)
    assert change.note == "Reporte de la familia."
    assert reminders() == {(installation.pk, 2025): OverdueReason.FLAGGED}


def test_a_system_set_aside_meanwhile_is_neither_flagged_nor_reminded(db, monkeypatch):
    installation = system(visits=((date(2024, 7, 1), date(2025, 4, 1)),))
    changed_between_picking_and_locking(monkeypatch, installation, Status.INACTIVE)

    result = maintenance_sweep(today=RAINY_DAY)

    assert result == SweepResult()
    assert status_of(installation) == Status.INACTIVE
    assert flags_of(installation) == []
    assert reminders() == {}


# --- Batches -------------------------------------------------------------------------------------------------
def test_batches_cover_every_overdue_system(db):
    systems = [system() for _ in range(5)]

    result = maintenance_sweep(today=RAINY_DAY, batch_size=2)

    assert result == SweepResult(flagged=5, reminders_created=5, reminders_already_present=0)
    assert set(reminders()) == {(s.pk, 2025) for s in systems}


def test_a_sweep_killed_in_a_batch_loses_only_that_batch_and_a_rerun_finishes(db, monkeypatch):
    # given five overdue systems, swept two at a time, and a failure inside the second batch
    systems = sorted((system() for _ in range(5)), key=lambda s: s.pk)
    original, calls = maintenance._remind, []

    def dies_in_the_second_batch(rows, **kwargs):
        calls.append(rows)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return original(rows, **kwargs)

    monkeypatch.setattr(maintenance, "_remind", dies_in_the_second_batch)
    with pytest.raises(SystemExit):
        maintenance_sweep(today=RAINY_DAY, batch_size=2)
    # then the first batch stands whole and the second left nothing behind
    assert set(reminders()) == {(s.pk, 2025) for s in systems[:2]}
    assert [status_of(s) for s in systems] == [Status.NEEDS_MAINTENANCE] * 2 + [Status.ACTIVE] * 3
    # when the sweep runs again
    monkeypatch.setattr(maintenance, "_remind", original)
    result = maintenance_sweep(today=RAINY_DAY, batch_size=2)
    # then it finishes the rest, and nothing is doubled
    assert result == SweepResult(flagged=3, reminders_created=3, reminders_already_present=2)
    assert set(reminders()) == {(s.pk, 2025) for s in systems}
    assert [len(flags_of(s)) for s in systems] == [1] * 5


def test_the_sweeps_queries_do_not_grow_with_the_systems(db):
    for _ in range(3):
        system()
    with CaptureQueriesContext(connection) as with_3:
        maintenance_sweep(today=RAINY_DAY)
    for _ in range(27):
        system()

    with CaptureQueriesContext(connection) as with_30:
        maintenance_sweep(today=RAINY_DAY)

    assert len(with_30) == len(with_3)


# --- The lifecycle table -------------------------------------------------------------------------------------
def test_the_sweep_refuses_to_flag_when_the_table_no_longer_has_the_step(db, monkeypatch):
    installation = system()
    monkeypatch.delitem(TRANSITIONS[Status.ACTIVE], Status.NEEDS_MAINTENANCE)

    with pytest.raises(TransitionError):
        maintenance_sweep(today=RAINY_DAY)

    assert status_of(installation) == Status.ACTIVE
    assert reminders() == {}


def test_the_sweep_refuses_to_flag_in_bulk_when_the_step_needs_evidence(db, monkeypatch):
    system()
    monkeypatch.setitem(TRANSITIONS[Status.ACTIVE], Status.NEEDS_MAINTENANCE, [lambda application: None])

    with pytest.raises(ImproperlyConfigured, match="needs evidence"):
        maintenance_sweep(today=RAINY_DAY)


# --- An independent recount ----------------------------------------------------------------------------------
RECOUNT_SQL = """
    SELECT i.id,
           CASE
             WHEN a.status = 'needs_maintenance' THEN 'flagged'
             WHEN (SELECT MAX(v.next_due_on) FROM installations_maintenancevisit v WHERE v.installation_id = i.id) < %s
               THEN 'due_date_passed'
             WHEN %s BETWEEN 5 AND 10
                  AND i.installed_on < %s
                  AND NOT EXISTS (
                    SELECT 1 FROM installations_maintenancevisit v WHERE v.installation_id = i.id AND v.visited_on >= %s
                  )
               THEN 'no_preseason_visit'
           END
      FROM installations_installation i
      JOIN installations_application a ON a.id = i.application_id
     WHERE i.removed_on IS NULL AND a.status IN ('installed', 'active', 'needs_maintenance')
"""


def recount(today: date) -> dict[int, str]:
    """The rules written out by hand in SQL: overdue installation id → reason."""
    window_opened = date(today.year - 1 if today.month <= 10 else today.year, 11, 1)
    with connection.cursor() as cursor:
        cursor.execute(RECOUNT_SQL, [today, today.month, window_opened, window_opened])
        return {pk: reason for pk, reason in cursor.fetchall() if reason is not None}


def a_mixed_population(seed: int, size: int = 60) -> None:
    rng = random.Random(seed)
    statuses = [Status.INSTALLED, Status.ACTIVE, Status.ACTIVE, Status.NEEDS_MAINTENANCE, Status.INACTIVE, Status.REMOVED]
    for _ in range(size):
        installed_on = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 1000))
        removed_on = installed_on + timedelta(days=rng.randrange(0, 200)) if rng.random() < 0.15 else None
        visits = []
        for _ in range(rng.randrange(0, 4)):
            visited_on = installed_on + timedelta(days=rng.randrange(0, 900))
            visits.append((visited_on, visited_on + timedelta(days=rng.randrange(1, 400))))
        system(status=rng.choice(statuses), installed_on=installed_on, removed_on=removed_on, visits=tuple(visits))


@pytest.mark.parametrize(
    "today",
    [
        date(2024, 10, 31),
        date(2024, 11, 1),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 7, 15),
        date(2025, 10, 31),
        date(2025, 11, 1),
    ],
    ids=str,
)
def test_the_sweep_reminds_exactly_the_systems_a_hand_written_recount_finds(db, today):
    # given
    a_mixed_population(seed=today.toordinal())
    expected = recount(today)
    assert expected  # the population is large enough to have some overdue systems on every date
    assert overdue(today) == expected
    # when
    result = maintenance_sweep(today=today, batch_size=7)
    # then
    season = season_of(today)
    assert {pk: reason for (pk, s), reason in reminders().items() if s == season} == expected
    assert result.reminders_created == len(expected)
    # flagging moves systems between reasons but not in or out of the overdue set
    assert set(recount(today)) == set(expected)
