"""Coverage facts: one narrow row per request, kept in step with the seven tables it is derived from.

A compile's parts read these rows instead of joining requests, households, dwellings, colonias,
technical visits, systems and maintenance visits again for every alcaldía (which read whole tables
for each one: 22 s for a million systems). Each compile begins with ``facts_sync``:

- **in step**: the requests whose rows changed since the last sync are found through the
  ``updated_at`` indexes of the six source tables, their facts deleted and derived again, and the
  alcaldías they were in before and after (a dwelling may have moved) are returned;
- **rebuilt** from scratch, in one statement, when there is nothing to be in step with (the first
  compile), when the reference data changed (rainfall, coefficients, catalogue: their digest), when
  a source row was deleted or a visit or system moved to another request since the last sync (the
  audit trail shows it; ``updated_at`` cannot), when asked, and once a day (the first compile of the
  day), as a safety net against any write that bypassed ``updated_at``.

The derivation is one SQL statement, filtered to a list of requests or not; the definitions it
implements are in docs/coverage.md, and tests compare synced facts with rebuilt ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from coverage.compile import (
    Contributions,
    MaintenanceWindow,
    _postgresql_settings,
    _table,
    contributions,
    ids_filter,
    ids_param,
)
from coverage.models import CoverageFact, CoverageFactsState
from installations.lifecycle import WORKING_SYSTEM_STATUSES
from installations.models import (
    Alcaldia,
    Applicant,
    Application,
    Colonia,
    Dwelling,
    Installation,
    MaintenanceVisit,
    ProgramYear,
    RainfallReference,
    RoofCoefficient,
    TechnicalVisit,
)

logger = logging.getLogger(__name__)

# Rows saved this long before a watermark may still have been uncommitted when it was read.
WATERMARK_MARGIN = timedelta(minutes=1)
# Fixed-point scales of the harvest inputs (decimal places of rainfall, roof area and coefficient),
# so that V = P × A × Ce is computed in integers and rounded half up exactly as the Python estimate.
RAIN_SCALE, AREA_SCALE, COEFFICIENT_SCALE = 10, 100, 100
VIABLE_OUTCOMES = (TechnicalVisit.Outcome.VIABLE, TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS)
FACT_COLUMNS = [f.column for f in CoverageFact._meta.concrete_fields]
# Requests re-derived per statement when syncing (a bigger change is split into several).
SYNC_BATCH = 5_000

# The source models whose audit entries can reveal a change ``updated_at`` cannot: deletes and moves.
SOURCE_MODEL_LABELS = [
    m._meta.label_lower for m in (Applicant, Dwelling, Application, TechnicalVisit, Installation, MaintenanceVisit)
]
# A visit or system that moves to another request leaves the old request's facts stale; the moves of
# a request (dwelling, household) and of a dwelling (colonia) are caught by the request's own sync.
CHILD_MODEL_LABELS = [m._meta.label_lower for m in (TechnicalVisit, Installation, MaintenanceVisit)]
CHILD_MOVING_FIELDS = ("application", "installation")


@dataclass(frozen=True)
class FactsSync:
    rebuilt: bool
    reason: str  # why they were rebuilt, or "" when synced
    alcaldias: frozenset[str]  # the alcaldías whose facts changed (every one after a rebuild)
    rows: int  # facts derived
    reference: str  # the reference-data digest the facts were derived with
    # When synced with a window: what the changed requests' facts gave each alcaldía's part before the
    # sync (taken out) and give now (put in), so that a part can be brought up to date without
    # grouping the whole alcaldía again.
    before: dict[str, Contributions] = field(default_factory=dict)
    after: dict[str, Contributions] = field(default_factory=dict)


def reference_fingerprint() -> str:
    """A digest of the reference data the figures depend on: rainfall, roof coefficients, targets, catalogue.

    These tables keep no ``updated_at``; the facts are rebuilt (and every part recomputed) when the
    digest differs.
    """
    digest = hashlib.sha256()
    for rows in (
        RainfallReference.objects.order_by("pk").values_list("pk", "alcaldia_id", "annual_mm"),
        RoofCoefficient.objects.order_by("pk").values_list("pk", "runoff_coefficient", "suitable"),
        ProgramYear.objects.order_by("pk").values_list("pk", "target_systems"),
        Alcaldia.objects.order_by("pk").values_list("pk", "name"),
        Colonia.objects.order_by("pk").values_list("pk", "alcaldia_id", "name"),
    ):
        digest.update(repr(list(rows)).encode())
    return digest.hexdigest()


def deletions_since(since: datetime) -> bool:
    """True if a source row (request, household, dwelling, visit, system, maintenance) was deleted since ``since``."""
    return AuditEntry.objects.filter(
        occurred_at__gte=since,
        model_label__in=SOURCE_MODEL_LABELS,
        action__in=[AuditAction.DELETE, AuditAction.BULK_DELETE],
    ).exists()


def child_moves_since(since: datetime) -> bool:
    """True if a technical visit, system or maintenance visit was moved to another request or system since ``since``."""
    moved = Q()
    for name in CHILD_MOVING_FIELDS:
        moved |= Q(changes__has_key=name)
    return (
        AuditEntry.objects.filter(
            occurred_at__gte=since,
            model_label__in=CHILD_MODEL_LABELS,
            action__in=[AuditAction.UPDATE, AuditAction.BULK_UPDATE],
        )
        .filter(moved)
        .exists()
    )


def _changed_querysets(since: datetime) -> list[QuerySet[Any]]:
    return [
        Application.objects.filter(updated_at__gte=since).values_list("pk", flat=True),
        Application.objects.filter(dwelling__updated_at__gte=since).values_list("pk", flat=True),
        Application.objects.filter(applicant__updated_at__gte=since).values_list("pk", flat=True),
        TechnicalVisit.objects.filter(updated_at__gte=since).values_list("application_id", flat=True),
        Installation.objects.filter(updated_at__gte=since).values_list("application_id", flat=True),
        MaintenanceVisit.objects.filter(updated_at__gte=since).values_list("installation__application_id", flat=True),
    ]


def changed_application_ids(since: datetime) -> set[int]:
    """The requests with their own row, household, dwelling, visit, system or maintenance saved since ``since``."""
    changed: set[int] = set()
    for queryset in _changed_querysets(since):
        changed.update(queryset.order_by())
    return changed


def applications_changed_since(since: datetime) -> bool:
    """Whether ``changed_application_ids(since)`` would be non-empty, with one EXISTS query per source table at most."""
    return any(queryset.order_by().exists() for queryset in _changed_querysets(since))


# --- The derivation -----------------------------------------------------------------------------------
def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(str(x) for x in values))


def rain_by_alcaldia() -> dict[str, int]:
    """Each alcaldía's reference rainfall in tenths of a millimetre (its own, or the city's); 0 without one."""
    # At most one row per alcaldía and one city-wide row (alcaldía NULL): a unique constraint.
    references: dict[str | None, Decimal] = dict(RainfallReference.objects.order_by().values_list("alcaldia_id", "annual_mm"))
    city = references.get(None)
    rain: dict[str, int] = {}
    for code in Alcaldia.objects.values_list("cvegeo", flat=True):
        annual_mm = references.get(code, city)
        if annual_mm is not None:
            scaled = (Decimal(annual_mm) * RAIN_SCALE).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
            rain[code] = int(scaled)
    return rain


def facts_sql(*, filtered: bool, rain: dict[str, int], today: date) -> tuple[str, dict[str, Any]]:
    """INSERT … SELECT of the facts of every request, or of the requests in %(ids)s when ``filtered``, on ``today``."""
    sqlite = connection.vendor == "sqlite"
    area = "CAST(ROUND(d.roof_area_m2 * 100) AS INTEGER)" if sqlite else "CAST(d.roof_area_m2 * 100 AS BIGINT)"
    coefficient = (
        "CAST(ROUND(rc.runoff_coefficient * 100) AS INTEGER)" if sqlite else "CAST(rc.runoff_coefficient * 100 AS BIGINT)"
    )
    working = f"(i.id IS NOT NULL AND i.removed_on IS NULL AND a.status IN ({_in(WORKING_SYSTEM_STATUSES)}))"
    half = RAIN_SCALE * AREA_SCALE * COEFFICIENT_SCALE
    params: dict[str, Any] = {"today": connection.ops.adapt_datefield_value(today)}
    cases = []
    for n, (code, value) in enumerate(sorted(rain.items())):
        params[f"rain_code_{n}"], params[f"rain_{n}"] = code, value
        cases.append(f"WHEN %(rain_code_{n})s THEN %(rain_{n})s")
    rain_sql = f"CASE c.alcaldia_id {' '.join(cases)} ELSE 0 END" if cases else "0"
    mv_filter = f"JOIN {_table(Installation)} i2 ON i2.id = mv.installation_id WHERE {ids_filter('i2.application_id')}"
    # Only table names from model metadata and our own constants are formatted in; values are parameters.
    # Each aggregate is computed once (MATERIALIZED) and hash-joined, instead of once per request row.
    sql = f"""
INSERT INTO {_table(CoverageFact)} ({", ".join(FACT_COLUMNS)})
WITH m AS MATERIALIZED (
  SELECT mv.installation_id, MAX(mv.next_due_on) AS next_due, MAX(mv.visited_on) AS last_visit,
    MAX(CASE WHEN mv.visited_on <= %(today)s THEN mv.visited_on END) AS last_visit_to_date
  FROM {_table(MaintenanceVisit)} mv {mv_filter if filtered else ""}
  GROUP BY mv.installation_id
), tv AS MATERIALIZED (
  SELECT DISTINCT application_id FROM {_table(TechnicalVisit)}
  WHERE outcome IN ({_in(VIABLE_OUTCOMES)}) {"AND " + ids_filter("application_id") if filtered else ""}
)
SELECT a.id, c.alcaldia_id, d.colonia_id, a.program_year_id, a.modality, p.sex, p.woman_headed_household, a.status,
  tv.application_id IS NOT NULL,
  i.id, i.installed_on,
  {working},
  CASE WHEN {working} THEN COALESCE(d.occupants, 0) ELSE 0 END,
  CASE WHEN {working} THEN i.tank_capacity_litres ELSE 0 END,
  CASE WHEN {working} AND rc.suitable AND rc.runoff_coefficient IS NOT NULL
    THEN COALESCE(({rain_sql} * {area} * {coefficient} + {half // 2}) / {half}, 0) ELSE 0 END,
  m.next_due, m.last_visit, m.last_visit_to_date
FROM {_table(Application)} a
JOIN {_table(Dwelling)} d ON d.id = a.dwelling_id
JOIN {_table(Colonia)} c ON c.id = d.colonia_id
JOIN {_table(Applicant)} p ON p.id = a.applicant_id
LEFT JOIN {_table(Installation)} i ON i.application_id = a.id
LEFT JOIN {_table(RoofCoefficient)} rc ON rc.material = d.roof_material
LEFT JOIN m ON m.installation_id = i.id
LEFT JOIN tv ON tv.application_id = a.id
{"WHERE " + ids_filter("a.id") if filtered else "ORDER BY c.alcaldia_id"}
"""  # noqa: S608
    return sql, params


# PostgreSQL settings for the rebuild's one statement (SET LOCAL: this transaction only). JIT off: on
# a million rows compiling the statement took seconds it never paid back; work_mem: the maintenance
# aggregate and the hash joins stay in memory.
REBUILD_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '128MB'")


def _rebuild(today: date) -> int:
    sql, params = facts_sql(filtered=False, rain=rain_by_alcaldia(), today=today)
    with connection.cursor() as cursor:
        _postgresql_settings(cursor, REBUILD_SETTINGS)
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {_table(CoverageFact)}")
        else:
            cursor.execute(f"DELETE FROM {_table(CoverageFact)}")  # noqa: S608 -- our table name
        cursor.execute(sql, params)
        rows = cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_table(CoverageFact)}")
    return rows


def _fact_alcaldias(cursor: Any, ids: Sequence[int]) -> set[str]:
    sql = f"SELECT DISTINCT alcaldia FROM {_table(CoverageFact)} WHERE {ids_filter('application_id')}"  # noqa: S608
    cursor.execute(sql, {"ids": ids_param(ids)})
    return {row[0] for row in cursor.fetchall()}


def _resync(
    ids: Sequence[int], *, today: date, window: MaintenanceWindow | None
) -> tuple[set[str], int, dict[str, Contributions], dict[str, Contributions]]:
    """Derive again the facts of ``ids``: the alcaldías they were in before and are in now, the rows,
    and (with a window) their contributions to the parts before and after."""
    if not ids:
        return set(), 0, {}, {}
    sql, params = facts_sql(filtered=True, rain=rain_by_alcaldia(), today=today)
    alcaldias: set[str] = set()
    rows = 0
    before: dict[str, Contributions] = {}
    after: dict[str, Contributions] = {}
    delete = f"DELETE FROM {_table(CoverageFact)} WHERE {ids_filter('application_id')}"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(ids), SYNC_BATCH):
            batch = ids[start : start + SYNC_BATCH]
            alcaldias |= _batch_alcaldias(cursor, batch, window=window, into=before)
            cursor.execute(delete, {"ids": ids_param(batch)})
            cursor.execute(sql, {**params, "ids": ids_param(batch)})
            rows += cursor.rowcount
            alcaldias |= _batch_alcaldias(cursor, batch, window=window, into=after)
    return alcaldias, rows, before, after


def _batch_alcaldias(
    cursor: Any, batch: Sequence[int], *, window: MaintenanceWindow | None, into: dict[str, Contributions]
) -> set[str]:
    """The alcaldías of the facts of ``batch``; with a window, their contributions are added to ``into`` too.

    The contributions' cube has a row for every fact, keyed by its alcaldía, so its alcaldías are
    exactly those of the facts: no need to ask for them again.
    """
    if window is None:
        return _fact_alcaldias(cursor, batch)
    found = contributions(ids=batch, window=window)
    _contributions_add(into, found)
    return set(found)


def _contributions_add(into: dict[str, Contributions], more: dict[str, Contributions]) -> None:
    for alcaldia, found in more.items():
        target = into.setdefault(alcaldia, Contributions([], []))
        target.cube.extend(found.cube)
        target.monthly.extend(found.monthly)


def facts_rebuild_reason(state: CoverageFactsState | None, *, now: datetime, reference: str) -> str:
    """Why the facts cannot simply be synced (and must be rebuilt), or "" when they can."""
    if state is None:
        return "never built"
    if state.reference != reference:
        return "reference data changed"
    if timezone.localdate(state.rebuilt_at) != timezone.localdate(now):
        return "first compile of the day"
    since = state.watermark - WATERMARK_MARGIN
    if deletions_since(since):
        return "source rows deleted"
    if child_moves_since(since):
        return "visits or systems moved to another request"
    return ""


def facts_sync(
    *,
    now: datetime | None = None,
    rebuild: bool = False,
    window: MaintenanceWindow | None = None,
) -> FactsSync:
    """Bring the facts in step with the source tables as of ``now``; rebuild them when they cannot be synced.

    Runs in one transaction holding the state row, so two compiles never sync at once; a compile
    that dies half way leaves the facts as they were. With ``window`` (the compile's), a sync also
    returns the changed requests' contributions to the parts before and after.
    """
    now = now or timezone.now()
    reference = reference_fingerprint()
    with transaction.atomic():
        state = CoverageFactsState.objects.select_for_update().order_by("pk").first()
        reason = "asked for" if rebuild else facts_rebuild_reason(state, now=now, reference=reference)
        before: dict[str, Contributions] = {}
        after: dict[str, Contributions] = {}
        if reason:
            rows = _rebuild(timezone.localdate(now))
            alcaldias = set(CoverageFact.objects.order_by().values_list("alcaldia", flat=True).distinct())
            rebuilt_at = now
        else:
            assert state is not None  # a missing state is a rebuild reason
            changed = sorted(changed_application_ids(state.watermark - WATERMARK_MARGIN))
            alcaldias, rows, before, after = _resync(changed, today=timezone.localdate(now), window=window)
            rebuilt_at = state.rebuilt_at
        # The compile that synced records its snapshot here once it has created it.
        values = {"watermark": now, "rebuilt_at": rebuilt_at, "reference": reference, "snapshot_id": None}
        if state is None:
            CoverageFactsState.objects.create(**values)
        else:
            CoverageFactsState.objects.filter(pk=state.pk).update(**values)
    logger.info("coverage facts: %s (%s rows, alcaldías %s)", reason or "synced", rows, sorted(alcaldias))
    return FactsSync(
        rebuilt=bool(reason),
        reason=reason,
        alcaldias=frozenset(alcaldias),
        rows=rows,
        reference=reference,
        before=before,
        after=after,
    )


def facts_state() -> CoverageFactsState | None:
    return CoverageFactsState.objects.order_by("pk").first()
