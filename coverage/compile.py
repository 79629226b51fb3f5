"""The heavy part of a coverage compile: one alcaldía's grouped counts, straight from the database.

Two GROUP BY statements per alcaldía (the cube and the monthly installations) read only that
alcaldía's rows; nothing is loaded row by row into Python. The statements are portable between
PostgreSQL and SQLite except for the month expression. The definitions they implement are written
down in docs/coverage.md; the tests recount every figure independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction

from installations.lifecycle import WORKING_SYSTEM_STATUSES, Status
from installations.models import (
    Applicant,
    Application,
    Colonia,
    Dwelling,
    Installation,
    MaintenanceVisit,
    RoofCoefficient,
    TechnicalVisit,
)
from installations.selectors import rainfall_for

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
VIABLE_OUTCOMES = (TechnicalVisit.Outcome.VIABLE, TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS)
# PostgreSQL settings for the part's two statements (SET LOCAL: this transaction only), measured on a
# million systems (benchmarks/coverage_compile.py). JIT off: the planner overestimates a small
# alcaldía's rows tenfold, its cost passes jit_above_cost and compiling the statement (inlining,
# optimisation) took longer than running it: 7 s for an alcaldía of 10,000 requests. work_mem: the
# biggest alcaldía's sort and maintenance aggregate (some 50 MB) stay in memory instead of spilling.
# No parallel workers: two parts already run at once, one per worker process, and each part's own
# parallel workers only fought them for the same cores (full compile 29-36 s with them, 23-26 s without).
POSTGRESQL_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)
# Fixed-point scales of the harvest inputs (decimal places of rainfall, roof area and coefficient),
# so that V = P × A × Ce is computed in integers and rounded half up exactly as the Python estimate.
RAIN_SCALE, AREA_SCALE, COEFFICIENT_SCALE = 10, 100, 100


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
    rainfall_mm: str | None


def _rain_fixed_point(alcaldia_id: str) -> tuple[int | None, str | None]:
    reference = rainfall_for(alcaldia_id)
    if reference is None:
        return None, None
    scaled = (Decimal(reference.annual_mm) * RAIN_SCALE).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return int(scaled), str(reference.annual_mm)


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(str(x) for x in values))


def cube_sql() -> str:
    """The per-alcaldía cube: one row per year × colonia × modality × sex × woman-headed × status."""
    scaled = connection.vendor == "sqlite"
    area = "CAST(ROUND(d.roof_area_m2 * 100) AS INTEGER)" if scaled else "CAST(d.roof_area_m2 * 100 AS BIGINT)"
    coefficient = (
        "CAST(ROUND(rc.runoff_coefficient * 100) AS INTEGER)" if scaled else "CAST(rc.runoff_coefficient * 100 AS BIGINT)"
    )
    working = f"(i.id IS NOT NULL AND i.removed_on IS NULL AND a.status IN ({_in(WORKING_SYSTEM_STATUSES)}))"
    half = RAIN_SCALE * AREA_SCALE * COEFFICIENT_SCALE
    # Only table names from model metadata and our own constants are formatted in; values are parameters.
    # The alcaldía's maintenance per system, computed once (MATERIALIZED) and hash-joined: without the
    # fence a planner with stale statistics may recompute it for every request row.
    return f"""
WITH m AS MATERIALIZED (
  SELECT mv.installation_id,
    MAX(mv.next_due_on) AS next_due,
    MAX(CASE WHEN mv.visited_on > %(year_ago)s AND mv.visited_on <= %(as_of)s THEN 1 ELSE 0 END) AS visited_12m,
    MAX(CASE WHEN mv.visited_on >= %(prep)s THEN 1 ELSE 0 END) AS visited_since_prep
  FROM {_table(MaintenanceVisit)} mv
  JOIN {_table(Installation)} i2 ON i2.id = mv.installation_id
  JOIN {_table(Dwelling)} d2 ON d2.id = i2.dwelling_id
  JOIN {_table(Colonia)} c2 ON c2.id = d2.colonia_id
  WHERE c2.alcaldia_id = %(alcaldia)s
  GROUP BY mv.installation_id
)
SELECT a.program_year_id, d.colonia_id, a.modality, p.sex, p.woman_headed_household, a.status,
  COUNT(*),
  SUM(CASE WHEN EXISTS (SELECT 1 FROM {_table(TechnicalVisit)} tv
                        WHERE tv.application_id = a.id AND tv.outcome IN ({_in(VIABLE_OUTCOMES)}))
      THEN 1 ELSE 0 END),
  COUNT(i.id),
  SUM(CASE WHEN {working} THEN 1 ELSE 0 END),
  SUM(CASE WHEN {working} THEN d.occupants ELSE 0 END),
  SUM(CASE WHEN {working} THEN i.tank_capacity_litres ELSE 0 END),
  SUM(CASE WHEN {working} AND rc.suitable AND rc.runoff_coefficient IS NOT NULL
      THEN (%(rain)s * {area} * {coefficient} + {half // 2}) / {half} ELSE 0 END),
  SUM(CASE WHEN {working} AND m.visited_12m = 1 THEN 1 ELSE 0 END),
  SUM(CASE WHEN {working} AND (a.status = '{Status.NEEDS_MAINTENANCE}' OR m.next_due < %(as_of)s
        OR (%(in_season)s = 1 AND i.installed_on < %(prep)s AND COALESCE(m.visited_since_prep, 0) = 0))
      THEN 1 ELSE 0 END)
FROM {_table(Application)} a
JOIN {_table(Dwelling)} d ON d.id = a.dwelling_id
JOIN {_table(Colonia)} c ON c.id = d.colonia_id
JOIN {_table(Applicant)} p ON p.id = a.applicant_id
LEFT JOIN {_table(Installation)} i ON i.application_id = a.id
LEFT JOIN {_table(RoofCoefficient)} rc ON rc.material = d.roof_material
LEFT JOIN m ON m.installation_id = i.id
WHERE c.alcaldia_id = %(alcaldia)s
GROUP BY a.program_year_id, d.colonia_id, a.modality, p.sex, p.woman_headed_household, a.status
"""  # noqa: S608


def monthly_sql() -> str:
    month = "strftime('%%Y-%%m', i.installed_on)" if connection.vendor == "sqlite" else "to_char(i.installed_on, 'YYYY-MM')"
    return f"""
SELECT a.program_year_id, a.modality, {month}, COUNT(*)
FROM {_table(Installation)} i
JOIN {_table(Application)} a ON a.id = i.application_id
JOIN {_table(Dwelling)} d ON d.id = a.dwelling_id
JOIN {_table(Colonia)} c ON c.id = d.colonia_id
WHERE c.alcaldia_id = %(alcaldia)s
GROUP BY a.program_year_id, a.modality, {month}
"""  # noqa: S608 -- table names and our month expression only


def part_tables(*, alcaldia_id: str, window: MaintenanceWindow) -> PartTables:
    """Run the two statements for one alcaldía and return their rows, column-oriented, ready to store."""
    rain, rainfall_mm = _rain_fixed_point(alcaldia_id)
    adapt = connection.ops.adapt_datefield_value
    params = {
        "alcaldia": alcaldia_id,
        "rain": rain or 0,  # no rainfall reference: no harvest estimate
        "as_of": adapt(window.as_of),
        "year_ago": adapt(window.twelve_months_ago),
        "prep": adapt(window.preparation_starts),
        "in_season": 1 if window.in_rainy_season else 0,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in POSTGRESQL_SETTINGS if connection.vendor == "postgresql" else ():
            cursor.execute(setting)
        cursor.execute(cube_sql(), params)
        cube_rows = [[*row[:4], bool(row[4]), row[5], *(int(v or 0) for v in row[6:])] for row in cursor.fetchall()]
        cursor.execute(monthly_sql(), {"alcaldia": alcaldia_id})
        monthly_rows = [[*row[:3], int(row[3])] for row in cursor.fetchall()]
    return PartTables(
        cube={"columns": CUBE_KEYS + CUBE_MEASURES, "rows": cube_rows},
        monthly={"columns": [*MONTHLY_KEYS, "installations"], "rows": monthly_rows},
        source_rows=sum(row[len(CUBE_KEYS)] for row in cube_rows),
        rainfall_mm=rainfall_mm,
    )
