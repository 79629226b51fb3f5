"""The heavy part of a coverage compile: one alcaldía's grouped counts, straight from the database.

Two GROUP BY statements per alcaldía (the cube and the monthly installations) read only that
alcaldía's rows of the coverage facts (``coverage.facts``: one narrow row per request, synced at the
start of each compile); nothing is loaded row by row into Python. The statements are portable
between PostgreSQL and SQLite except for the month expression. The definitions they implement are
written down in docs/coverage.md; the tests recount every figure independently from the source tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction

from coverage.models import CoverageFact
from installations.lifecycle import Status

CUBE_KEYS = ["program_year", "colonia", "modality", "sex", "woman_headed", "status"]
CUBE_MEASURES = [
    "applications",
    "viable_visits",
    "installations",
    "systems_active",
    "people_served",
    "storage_litres",
    "harvest_litres",
    "maintained_12m",
    "maintenance_overdue",
]
MONTHLY_KEYS = ["program_year", "modality", "month"]
# PostgreSQL settings for the part's two statements (SET LOCAL: this transaction only). JIT off: the
# planner's estimate of a small alcaldía passed jit_above_cost and compiling the statement took longer
# than running it. No parallel workers: two parts already run at once, one per worker process.
POSTGRESQL_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)


@dataclass(frozen=True)
class MaintenanceWindow:
    """The dates the maintenance figures are measured against, from the compile's cut-off date."""

    as_of: date
    twelve_months_ago: date
    season: int
    preparation_starts: date
    in_rainy_season: bool

    @classmethod
    def for_date(cls, as_of: date) -> MaintenanceWindow:
        try:
            year_ago = as_of.replace(year=as_of.year - 1)
        except ValueError:  # 29 February
            year_ago = as_of.replace(year=as_of.year - 1, day=28)
        season = as_of.year if as_of.month <= 10 else as_of.year + 1
        return cls(
            as_of=as_of,
            twelve_months_ago=year_ago,
            season=season,
            preparation_starts=date(season - 1, 11, 1),
            in_rainy_season=5 <= as_of.month <= 10,
        )


@dataclass(frozen=True)
class PartTables:
    cube: dict[str, Any]
    monthly: dict[str, Any]
    source_rows: int


@dataclass(frozen=True)
class Contributions:
    """What some requests add to one alcaldía's part: its cube and monthly rows for those requests only."""

    cube: list[list[Any]]
    monthly: list[list[Any]]


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def ids_filter(column: str) -> str:
    """``column`` restricted to the %(ids)s parameter (a list on PostgreSQL, a JSON array on SQLite)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%(ids)s)"
    return f"{column} IN (SELECT value FROM json_each(%(ids)s))"  # noqa: S608 -- our column names


def ids_param(ids: Sequence[int]) -> Any:
    return list(ids) if connection.vendor == "postgresql" else json.dumps(list(ids))


def cube_sql(*, by_ids: bool = False) -> str:
    """The cube: one row per year × colonia × modality × sex × woman-headed × status with nine measures.

    Over one alcaldía's facts (%(alcaldia)s), or with ``by_ids`` over the requests in %(ids)s,
    grouped by alcaldía first. A pure function of the facts and the window: the facts' last visit
    to date was taken on the compile's cut-off date (coverage.facts).
    """
    keys = "f.program_year, f.colonia_id, f.modality, f.sex, f.woman_headed, f.status"
    # Only table names from model metadata and our own constants are formatted in; values are parameters.
    return f"""
SELECT {"f.alcaldia, " if by_ids else ""}{keys},
  COUNT(*),
  SUM(CASE WHEN f.viable THEN 1 ELSE 0 END),
  COUNT(f.installation_id),
  SUM(CASE WHEN f.working THEN 1 ELSE 0 END),
  SUM(f.occupants),
  SUM(f.storage_litres),
  SUM(f.harvest_litres),
  SUM(CASE WHEN f.working AND f.last_visit_to_date > %(year_ago)s THEN 1 ELSE 0 END),
  SUM(CASE WHEN f.working AND (f.status = '{Status.NEEDS_MAINTENANCE}' OR f.next_due_on < %(as_of)s
        OR (%(in_season)s = 1 AND f.installed_on < %(prep)s AND (f.last_visit_on IS NULL OR f.last_visit_on < %(prep)s)))
      THEN 1 ELSE 0 END)
FROM {_table(CoverageFact)} f
WHERE {ids_filter("f.application_id") if by_ids else "f.alcaldia = %(alcaldia)s"}
GROUP BY {"f.alcaldia, " if by_ids else ""}{keys}
"""  # noqa: S608


def monthly_sql(*, by_ids: bool = False) -> str:
    sqlite = connection.vendor == "sqlite"
    month = "strftime('%%Y-%%m', f.installed_on)" if sqlite else "to_char(f.installed_on, 'YYYY-MM')"
    alcaldia = "f.alcaldia, " if by_ids else ""
    return f"""
SELECT {alcaldia}f.program_year, f.modality, {month}, COUNT(*)
FROM {_table(CoverageFact)} f
WHERE {ids_filter("f.application_id") if by_ids else "f.alcaldia = %(alcaldia)s"} AND f.installation_id IS NOT NULL
GROUP BY {alcaldia}f.program_year, f.modality, {month}
"""  # noqa: S608 -- table names and our month expression only


def _window_params(window: MaintenanceWindow) -> dict[str, Any]:
    adapt = connection.ops.adapt_datefield_value
    return {
        "as_of": adapt(window.as_of),
        "year_ago": adapt(window.twelve_months_ago),
        "prep": adapt(window.preparation_starts),
        "in_season": 1 if window.in_rainy_season else 0,
    }


def _cube_row(row: Sequence[Any]) -> list[Any]:
    return [*row[:4], bool(row[4]), row[5], *(int(v or 0) for v in row[6:])]


def _monthly_row(row: Sequence[Any]) -> list[Any]:
    return [*row[:3], int(row[3])]


def _postgresql_settings(cursor: Any, settings: Sequence[str] = POSTGRESQL_SETTINGS) -> None:
    """Run ``settings`` (SET LOCAL statements) on PostgreSQL; nothing on SQLite."""
    for setting in settings if connection.vendor == "postgresql" else ():
        cursor.execute(setting)


def part_tables(*, alcaldia_id: str, window: MaintenanceWindow) -> PartTables:
    """Run the two statements for one alcaldía and return their rows, column-oriented, ready to store."""
    with transaction.atomic(), connection.cursor() as cursor:
        _postgresql_settings(cursor)
        cursor.execute(cube_sql(), {"alcaldia": alcaldia_id, **_window_params(window)})
        cube_rows = [_cube_row(row) for row in cursor.fetchall()]
        cursor.execute(monthly_sql(), {"alcaldia": alcaldia_id})
        monthly_rows = [_monthly_row(row) for row in cursor.fetchall()]
    return part_from_rows(cube_rows, monthly_rows)


def part_from_rows(cube_rows: list[list[Any]], monthly_rows: list[list[Any]]) -> PartTables:
    return PartTables(
        cube={"columns": CUBE_KEYS + CUBE_MEASURES, "rows": cube_rows},
        monthly={"columns": [*MONTHLY_KEYS, "installations"], "rows": monthly_rows},
        source_rows=sum(row[len(CUBE_KEYS)] for row in cube_rows),
    )


def contributions(*, ids: Sequence[int], window: MaintenanceWindow) -> dict[str, Contributions]:
    """What the facts of ``ids`` add to each alcaldía's part, as they stand now (the same two statements)."""
    found: dict[str, Contributions] = {}
    if not ids:
        return found
    with connection.cursor() as cursor:
        _postgresql_settings(cursor)
        cursor.execute(cube_sql(by_ids=True), {"ids": ids_param(ids), **_window_params(window)})
        for row in cursor.fetchall():
            found.setdefault(row[0], Contributions([], [])).cube.append(_cube_row(row[1:]))
        cursor.execute(monthly_sql(by_ids=True), {"ids": ids_param(ids)})
        for row in cursor.fetchall():
            found.setdefault(row[0], Contributions([], [])).monthly.append(_monthly_row(row[1:]))
    return found


def _combine(rows: list[list[Any]], *, keys: int, plus: list[list[Any]], minus: list[list[Any]]) -> list[list[Any]]:
    """``rows`` + ``plus`` − ``minus``, by key (the first ``keys`` columns); groups left with no request dropped."""
    totals: dict[tuple[Any, ...], list[int]] = {}
    for sign, group in ((1, rows), (1, plus), (-1, minus)):
        for row in group:
            key = tuple(row[:keys])
            measures = totals.setdefault(key, [0] * (len(row) - keys))
            for index, value in enumerate(row[keys:]):
                measures[index] += sign * value
    if any(value < 0 for measures in totals.values() for value in measures):
        raise ValueError("a part's figures went negative: the base part did not hold the requests taken out")
    combined = [[*key, *measures] for key, measures in totals.items() if measures[0] != 0]
    return sorted(combined, key=lambda row: tuple(str(v) for v in row[:keys]))


def part_apply(base: PartTables, *, plus: Contributions | None, minus: Contributions | None) -> PartTables:
    """A stored part brought up to date with the contributions of the requests that changed since it was computed."""
    empty = Contributions([], [])
    plus, minus = plus or empty, minus or empty
    cube = _combine(base.cube["rows"], keys=len(CUBE_KEYS), plus=plus.cube, minus=minus.cube)
    monthly = _combine(base.monthly["rows"], keys=len(MONTHLY_KEYS), plus=plus.monthly, minus=minus.monthly)
    return part_from_rows(cube, monthly)
