"""The light part of a compile: pandas turns the alcaldías' grouped counts into every scope's figures.

Each breakdown is grouped once over the small per-alcaldía tables, then rolled up to "every year",
"the whole city" and "both modalities" by stacking copies with the key blanked and grouping again.
The figures of one scope are a plain dict, stored as the slice's JSON and served as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from coverage.compile import CUBE_KEYS, CUBE_MEASURES, MONTHLY_KEYS
from installations.lifecycle import Status

SCOPE = ["program_year", "alcaldia", "modality"]
ALL_YEARS, WHOLE_CITY, BOTH_MODALITIES = 0, "", ""
WATER_TRUCK_LITRES = 10_000

# The funnel: how far a request got, read from its current state. Side exits (withdrawn, rejected,
# waitlisted) are counted at the stage they are known to have passed, registration.
FUNNEL_STAGES: list[tuple[str, frozenset[str]]] = [
    ("registered", frozenset(Status.values)),
    (
        "documents_complete",
        frozenset(Status.values)
        - {Status.REGISTERED, Status.DOCUMENTS_PENDING, Status.WITHDRAWN, Status.REJECTED, Status.WAITLISTED},
    ),
    (
        "visited",
        frozenset(Status.values)
        - {
            Status.REGISTERED,
            Status.DOCUMENTS_PENDING,
            Status.DOCUMENTS_COMPLETE,
            Status.VISIT_SCHEDULED,
            Status.WITHDRAWN,
            Status.REJECTED,
            Status.WAITLISTED,
        },
    ),
    (
        "viable",
        frozenset(
            {
                Status.VIABLE,
                Status.PAYMENT_PENDING,
                Status.PAID,
                Status.INSTALLATION_SCHEDULED,
                Status.INSTALLED,
                Status.ACTIVE,
                Status.NEEDS_MAINTENANCE,
                Status.INACTIVE,
                Status.REMOVED,
            }
        ),
    ),
    ("installed", frozenset({Status.INSTALLED, Status.ACTIVE, Status.NEEDS_MAINTENANCE, Status.INACTIVE, Status.REMOVED})),
    ("working", frozenset({Status.INSTALLED, Status.ACTIVE, Status.NEEDS_MAINTENANCE})),
]


@dataclass(frozen=True)
class PartInput:
    alcaldia_id: str
    cube: Mapping[str, Any]
    monthly: Mapping[str, Any]


@dataclass(frozen=True)
class ScopeFigures:
    program_year: int
    alcaldia: str
    modality: str
    figures: dict[str, Any]


def _frame(tables: Iterable[tuple[str, Mapping[str, Any]]], columns: Sequence[str]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(table["rows"], columns=table["columns"]).assign(alcaldia=alcaldia)
        for alcaldia, table in tables
        if table.get("rows")
    ]
    if not frames:
        return pd.DataFrame(columns=[*columns, "alcaldia"])
    return pd.concat(frames, ignore_index=True)


def _rolled(frame: pd.DataFrame, keys: list[str], measures: list[str]) -> pd.DataFrame:
    """``measures`` summed by scope and ``keys``, including every roll-up of the three scope keys."""
    grouped = frame.groupby(SCOPE + keys, sort=False, dropna=False)[measures].sum().reset_index()
    stacked = [grouped]
    for column, everything in (("program_year", ALL_YEARS), ("alcaldia", WHOLE_CITY), ("modality", BOTH_MODALITIES)):
        stacked += [part.assign(**{column: everything}) for part in stacked]
    return pd.concat(stacked, ignore_index=True).groupby(SCOPE + keys, sort=True)[measures].sum().reset_index()


def _derived(row: dict[str, Any]) -> dict[str, Any]:
    row["water_trucks_per_year"] = round(row["harvest_litres"] / WATER_TRUCK_LITRES, 1)
    active = row["systems_active"]
    row["maintenance_coverage"] = round(row["maintained_12m"] / active, 4) if active else None
    return row


def _measures(record: Mapping[str, Any]) -> dict[str, Any]:
    return _derived({name: int(record[name]) for name in CUBE_MEASURES})


def _empty_measures() -> dict[str, Any]:
    return _derived(dict.fromkeys(CUBE_MEASURES, 0))


def build_scopes(
    parts: Sequence[PartInput],
    *,
    years: Sequence[int],
    targets: Mapping[int, int | None],
    modalities: Sequence[str],
    alcaldia_names: Mapping[str, str],
    colonia_names: Mapping[int, str],
) -> list[ScopeFigures]:
    """Every scope's figures: each program year and all years × each alcaldía and the city × each modality and both."""
    cube = _frame(((p.alcaldia_id, p.cube) for p in parts), [*CUBE_KEYS, *CUBE_MEASURES])
    monthly = _frame(((p.alcaldia_id, p.monthly) for p in parts), [*MONTHLY_KEYS, "installations"])
    cube[CUBE_MEASURES] = cube[CUBE_MEASURES].astype("int64")
    monthly["installations"] = monthly["installations"].astype("int64")

    alcaldias = [p.alcaldia_id for p in parts]
    scopes: dict[tuple[int, str, str], dict[str, Any]] = {}
    for year in [ALL_YEARS, *years]:
        for alcaldia in [WHOLE_CITY, *alcaldias]:
            for modality in [BOTH_MODALITIES, *modalities]:
                scopes[(year, alcaldia, modality)] = {
                    "totals": _empty_measures(),
                    "by_status": {},
                    "by_sex": [],
                    "by_woman_headed": [],
                    "by_alcaldia" if alcaldia == WHOLE_CITY else "by_colonia": [],
                    "monthly_installations": [],
                }

    def each(table: pd.DataFrame) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        # Columns to Python lists once, then plain dicts: DataFrame.to_dict("records") boxes value by value.
        names = list(table.columns)
        for values in zip(*(table[name].tolist() for name in names), strict=True):
            record = dict(zip(names, values, strict=True))
            scope = scopes.get((int(record["program_year"]), record["alcaldia"], record["modality"]))
            if scope is not None:
                yield scope, record

    for scope, record in each(_rolled(cube, [], CUBE_MEASURES)):
        scope["totals"] = _measures(record)
    for scope, record in each(_rolled(cube, ["status"], ["applications"])):
        scope["by_status"][record["status"]] = int(record["applications"])
    for scope, record in each(_rolled(cube, ["sex"], CUBE_MEASURES)):
        scope["by_sex"].append({"sex": record["sex"], **_measures(record)})
    for scope, record in each(_rolled(cube, ["woman_headed"], CUBE_MEASURES)):
        scope["by_woman_headed"].append({"woman_headed": bool(record["woman_headed"]), **_measures(record)})
    for scope, record in each(_rolled(cube, ["colonia"], CUBE_MEASURES)):
        if "by_colonia" in scope:
            colonia = int(record["colonia"])
            scope["by_colonia"].append({"colonia": colonia, "name": colonia_names.get(colonia, ""), **_measures(record)})
    for scope, record in each(_rolled(monthly, ["month"], ["installations"])):
        scope["monthly_installations"].append({"month": record["month"], "installations": int(record["installations"])})
    # By alcaldía: the alcaldías' own totals, listed in the city's scope of the same year and modality.
    for (year, alcaldia, modality), scope in scopes.items():
        if alcaldia != WHOLE_CITY:
            city = scopes[(year, WHOLE_CITY, modality)]
            city["by_alcaldia"].append({"alcaldia": alcaldia, "name": alcaldia_names.get(alcaldia, ""), **scope["totals"]})

    known_targets = [t for t in targets.values() if t]
    result = []
    for (year, alcaldia, modality), scope in scopes.items():
        by_status = scope.pop("by_status")
        scope["by_status"] = [{"status": s, "applications": by_status[s]} for s in Status.values if by_status.get(s)]
        scope["funnel"] = [
            {"stage": stage, "applications": sum(n for s, n in by_status.items() if s in statuses)}
            for stage, statuses in FUNNEL_STAGES
        ]
        target = None
        if alcaldia == WHOLE_CITY and modality == BOTH_MODALITIES:
            target = (sum(known_targets) or None) if year == ALL_YEARS else targets.get(year)
        installations = scope["totals"]["installations"]
        scope["target"] = {
            "systems": target,
            "progress": round(installations / target, 4) if target else None,
        }
        result.append(ScopeFigures(program_year=year, alcaldia=alcaldia, modality=modality, figures=scope))
    return result
