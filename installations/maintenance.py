"""The daily maintenance sweep: which working systems are overdue, and the reminders they get.

The rules (mirrored in SQL by the coverage statistics, so change both together):

- ``season_of(d)`` is ``d.year`` until October and ``d.year + 1`` from November. Season Y's
  preparation window runs from 1 November of Y-1 to 30 April of Y; its rainy season from 1 May
  to 31 October of Y (domain.md §4.2).
- A working system is an installation not removed whose request is installed, active or needs
  maintenance (``lifecycle.WORKING_SYSTEM_STATUSES``).
- It is overdue on day D, for the first reason that applies: it is flagged as needing maintenance;
  the latest ``next_due_on`` of its maintenance visits is before D; or D is in the rainy season, the
  system was installed before its preparation window and has had no visit since the window opened.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Case, CharField, Exists, F, Max, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from audit.services import update_with_history
from installations.exceptions import TransitionError
from installations.lifecycle import TRANSITIONS, WORKING_SYSTEM_STATUSES, Status
from installations.models import (
    Application,
    Installation,
    MaintenanceReminder,
    MaintenanceReminderReason,
    MaintenanceVisit,
    StatusChange,
)

logger = logging.getLogger(__name__)

OverdueReason = MaintenanceReminderReason
# The reasons in order of precedence: a system overdue for several is reported with the first.
OVERDUE_REASONS: tuple[OverdueReason, ...] = (
    OverdueReason.FLAGGED,
    OverdueReason.DUE_DATE_PASSED,
    OverdueReason.NO_PRESEASON_VISIT,
)
RAINY_SEASON_MONTHS = range(5, 11)  # May to October
# What the status history says when the sweep flags an active system, by reason.
FLAG_NOTES = {
    OverdueReason.DUE_DATE_PASSED: _("Revisión diaria de mantenimiento: pasó la fecha del próximo mantenimiento."),
    OverdueReason.NO_PRESEASON_VISIT: _(
        "Revisión diaria de mantenimiento: sin visita de mantenimiento antes de la temporada de lluvias."
    ),
}


# --- The rules ------------------------------------------------------------------------------------------
def season_of(day: date) -> int:
    """The rainy season a day belongs to: its own year until October, the next one from November."""
    return day.year if day.month <= 10 else day.year + 1


def preparation_starts_on(season: int) -> date:
    """The first day of a season's preparation window: 1 November of the year before."""
    return date(season - 1, 11, 1)


def in_rainy_season(day: date) -> bool:
    return day.month in RAINY_SEASON_MONTHS


def working_systems() -> QuerySet[Installation]:
    """Installations still at their dwelling whose request says the system is in use."""
    return Installation.objects.filter(removed_on=None, application__status__in=WORKING_SYSTEM_STATUSES)


def overdue_systems(*, today: date) -> QuerySet[Installation]:
    """Working systems overdue for maintenance on ``today``, annotated with ``overdue_reason``.

    Also annotated with ``latest_next_due_on`` (None for a system never visited). One query; no
    ordering is imposed beyond the model's.
    """
    preparation_start = preparation_starts_on(season_of(today))
    visits = MaintenanceVisit.objects.filter(installation=OuterRef("pk")).order_by()
    latest_next_due_on = visits.values("installation").annotate(latest=Max("next_due_on")).values("latest")
    rules = [
        When(application__status=Status.NEEDS_MAINTENANCE, then=Value(OverdueReason.FLAGGED.value)),
        # NULL (never visited) compares as unknown, so a system without visits is not "due" by this rule.
        When(latest_next_due_on__lt=today, then=Value(OverdueReason.DUE_DATE_PASSED.value)),
    ]
    if in_rainy_season(today):
        rules.append(
            When(
                ~Exists(visits.filter(visited_on__gte=preparation_start)),
                installed_on__lt=preparation_start,
                then=Value(OverdueReason.NO_PRESEASON_VISIT.value),
            )
        )
    return (
        working_systems()
        .annotate(latest_next_due_on=Subquery(latest_next_due_on))
        .annotate(overdue_reason=Case(*rules, default=None, output_field=CharField()))
        .filter(overdue_reason__isnull=False)
    )


# --- The sweep ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: active systems it flagged, and reminders it wrote or found already written."""

    flagged: int = 0
    reminders_created: int = 0
    reminders_already_present: int = 0

    def __add__(self, other: SweepResult) -> SweepResult:
        return SweepResult(
            flagged=self.flagged + other.flagged,
            reminders_created=self.reminders_created + other.reminders_created,
            reminders_already_present=self.reminders_already_present + other.reminders_already_present,
        )


def maintenance_sweep(*, today: date | None = None, batch_size: int = 1000) -> SweepResult:
    """Flag overdue active systems as needing maintenance and write one reminder per overdue system and season.

    Works in batches of installations in key order, each in its own transaction: a worker killed
    midway loses at most the batch it was in, and a rerun (the same day or later) redoes only
    what is missing. Running it twice on one day leaves the same state as running it once.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    _check_flagging_is_a_plain_step()
    today = today or timezone.localdate()
    candidates = overdue_systems(today=today).order_by("pk").values_list("pk", flat=True)
    result = SweepResult()
    after = 0
    while batch := list(candidates.filter(pk__gt=after)[:batch_size]):
        result += _sweep_batch(installation_ids=batch, today=today)
        after = batch[-1]
    logger.info("maintenance sweep %s: %s", today, result)
    return result


def _check_flagging_is_a_plain_step() -> None:
    """The sweep writes active → needs maintenance in bulk, so the table must allow it without evidence."""
    requirements = TRANSITIONS.get(Status.ACTIVE, {}).get(Status.NEEDS_MAINTENANCE)
    if requirements is None:
        raise TransitionError(current=Status.ACTIVE, wanted=Status.NEEDS_MAINTENANCE)
    if requirements:
        raise ImproperlyConfigured("active → needs_maintenance now needs evidence; the sweep must check it per request")


@transaction.atomic
def _sweep_batch(*, installation_ids: list[int], today: date) -> SweepResult:
    # Lock the batch's requests (in key order, so two sweeps cannot deadlock), then read the rules
    # again: a status or a visit recorded since the batch was picked is what counts now.
    requests = Installation.objects.filter(pk__in=installation_ids).values("application_id")
    list(Application.objects.select_for_update(no_key=True).filter(pk__in=requests).order_by("pk").values_list("pk"))
    overdue = list(
        overdue_systems(today=today)
        .filter(pk__in=installation_ids)
        .order_by("pk")
        .values_list("pk", "application_id", "application__status", "overdue_reason")
    )
    flagged = _flag_active(
        [(application_id, reason) for _pk, application_id, status, reason in overdue if status == Status.ACTIVE]
    )
    # A system flagged just now is reminded for what made it overdue, read before the flag was set.
    created, present = _remind([(pk, reason) for pk, _application_id, _status, reason in overdue], today=today)
    return SweepResult(flagged=flagged, reminders_created=created, reminders_already_present=present)


def _flag_active(rows: list[tuple[int, str]]) -> int:
    """Move locked, active requests to needs maintenance: status, version, history and audit trail."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    for application_id, reason in rows:
        by_reason[reason].append(application_id)
    now = timezone.now()
    flagged = 0
    for reason, application_ids in by_reason.items():
        with translation.override(settings.LANGUAGE_CODE):  # the history is kept in Spanish
            note = str(FLAG_NOTES[OverdueReason(reason)])
        updated = update_with_history(
            Application.objects.filter(pk__in=application_ids, status=Status.ACTIVE),
            note=note,
            status=Status.NEEDS_MAINTENANCE,
            status_changed_at=now,
            version=F("version") + 1,
            updated_at=now,  # QuerySet.update skips auto_now
        )
        if updated != len(application_ids):  # the rows are locked, so this is a bug, not a race
            raise RuntimeError(f"flagged {updated} of {len(application_ids)} locked active requests")
        StatusChange.objects.bulk_create(
            StatusChange(
                application_id=application_id,
                from_status=Status.ACTIVE,
                to_status=Status.NEEDS_MAINTENANCE,
                changed_by=None,
                changed_at=now,
                note=note,
            )
            for application_id in application_ids
        )
        flagged += updated
    return flagged


def _remind(rows: list[tuple[int, str]], *, today: date) -> tuple[int, int]:
    """One reminder per installation for today's season; returns (created, already present)."""
    season = season_of(today)
    installation_ids = [pk for pk, _reason in rows]
    this_season = MaintenanceReminder.objects.filter(installation_id__in=installation_ids, season=season)
    present = set(this_season.values_list("installation_id", flat=True))
    # ON CONFLICT DO NOTHING: the unique (installation, season) pair, not this read, is the guard.
    MaintenanceReminder.objects.bulk_create(
        [
            MaintenanceReminder(installation_id=pk, season=season, reason=reason, due_since=today)
            for pk, reason in rows
            if pk not in present
        ],
        ignore_conflicts=True,
    )
    created = this_season.count() - len(present)
    return created, len(present)
