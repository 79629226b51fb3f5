"""Every figure of every compiled slice equals an independent recount of the same rows.

The demo program (600 systems, seed 7) plus hand-made edge cases is compiled once (see conftest);
here each application is measured in plain Python from ``values()`` rows, following the written
definitions, and every scope (each program year and all, the city and each alcaldía, each modality
and both) is totalled again. Nothing here uses coverage/compile.py or coverage/reshape.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from installations.lifecycle import Status
from installations.models import Modality
from tests.coverage.seeded import EDGE_ALCALDIA, TODAY, CompiledDemo

# The demo fixture reads a database set up for the session; pytest-django sets it up only for marked tests.
pytestmark = pytest.mark.django_db
ALL_YEARS, CITY, BOTH = 0, "", ""
MEASURES = (
    "applications",
    "viable_visits",
    "installations",
    "systems_active",
    "people_served",
    "storage_litres",
    "harvest_litres",
    "maintained_12m",
    "maintenance_overdue",
)
WORKING = {Status.INSTALLED, Status.ACTIVE, Status.NEEDS_MAINTENANCE}
SYSTEM = WORKING | {Status.INACTIVE, Status.REMOVED}
BEFORE_DOCUMENTS = {Status.REGISTERED, Status.DOCUMENTS_PENDING, Status.WITHDRAWN, Status.REJECTED, Status.WAITLISTED}
# How far a request got, by its current status (side exits count as registered only).
FUNNEL = {
    "registered": set(Status.values),
    "documents_complete": set(Status.values) - BEFORE_DOCUMENTS,
    "visited": set(Status.values) - BEFORE_DOCUMENTS - {Status.DOCUMENTS_COMPLETE, Status.VISIT_SCHEDULED},
    "viable": {Status.VIABLE, Status.PAYMENT_PENDING, Status.PAID, Status.INSTALLATION_SCHEDULED} | SYSTEM,
    "installed": SYSTEM,
    "working": WORKING,
}
BREAKDOWNS = (
    "totals",
    "by_status",
    "funnel",
    "by_sex",
    "by_woman_headed",
    "by_alcaldia",
    "by_colonia",
    "monthly_installations",
    "target",
)


@dataclass(frozen=True)
class Window:
    as_of: date
    twelve_months_ago: date
    preparation_starts: date
    in_rainy_season: bool

    @classmethod
    def of(cls, as_of: date) -> Window:
        season = as_of.year if as_of.month <= 10 else as_of.year + 1
        return cls(as_of, as_of.replace(year=as_of.year - 1), date(season - 1, 11, 1), 5 <= as_of.month <= 10)


@dataclass(frozen=True)
class Measured:
    """One application: where it falls (the scope and breakdown keys) and what it adds to each measure."""

    year: int
    alcaldia: str
    colonia: int
    modality: str
    sex: str
    woman_headed: bool
    status: str
    installed_month: str | None
    measures: dict[str, int]


def measure(demo: CompiledDemo) -> list[Measured]:
    facts, window = demo.facts, Window.of(demo.as_of)
    measured = []
    for app in facts.applications:
        installation = facts.installations.get(app["id"])
        working = installation is not None and installation["removed_on"] is None and app["status"] in WORKING
        visits = facts.maintenance.get(installation["id"], []) if installation else []
        latest_due = max((due for _, due in visits), default=None)
        maintained = any(window.twelve_months_ago < visited <= window.as_of for visited, _ in visits)
        unprepared = (
            window.in_rainy_season
            and installation is not None
            and installation["installed_on"] < window.preparation_starts
            and not any(visited >= window.preparation_starts for visited, _ in visits)
        )
        overdue = (
            app["status"] == Status.NEEDS_MAINTENANCE or (latest_due is not None and latest_due < window.as_of) or unprepared
        )
        measured.append(
            Measured(
                year=app["year"],
                alcaldia=app["alcaldia"],
                colonia=app["colonia"],
                modality=app["modality"],
                sex=app["sex"],
                woman_headed=app["woman_headed"],
                status=app["status"],
                installed_month=installation["installed_on"].strftime("%Y-%m") if installation else None,
                measures={
                    "applications": 1,
                    "viable_visits": int(app["id"] in facts.viable_application_ids),
                    "installations": int(installation is not None),
                    "systems_active": int(working),
                    "people_served": app["occupants"] if working else 0,
                    "storage_litres": installation["tank_capacity_litres"] if working else 0,
                    "harvest_litres": facts.harvest_by_dwelling[app["dwelling_id"]] if working else 0,
                    "maintained_12m": int(working and maintained),
                    "maintenance_overdue": int(working and overdue),
                },
            )
        )
    return measured


def summed(rows: Iterable[Measured]) -> dict[str, Any]:
    totals = dict.fromkeys(MEASURES, 0)
    for row in rows:
        for name, value in row.measures.items():
            totals[name] += value
    totals["water_trucks_per_year"] = round(totals["harvest_litres"] / 10_000, 1)
    active = totals["systems_active"]
    totals["maintenance_coverage"] = round(totals["maintained_12m"] / active, 4) if active else None
    return totals


def grouped(rows: list[Measured], key: str) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, list[Measured]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, key)].append(row)
    return {value: summed(members) for value, members in groups.items()}


def scope_keys(demo: CompiledDemo) -> list[tuple[int, str, str]]:
    years = [ALL_YEARS, *sorted(demo.facts.targets)]
    return [
        (year, alcaldia, modality)
        for year in years
        for alcaldia in [CITY, *demo.facts.alcaldias]
        for modality in [BOTH, *Modality.values]
    ]


def recount(demo: CompiledDemo) -> dict[tuple[int, str, str], dict[str, Any]]:
    """Every scope's figures in a comparable shape: lists become dicts keyed by what they list."""
    everything = measure(demo)
    facts = demo.facts
    known_targets = [t for t in facts.targets.values() if t]
    expected = {}
    for year, alcaldia, modality in scope_keys(demo):
        rows = [
            r
            for r in everything
            if year in (ALL_YEARS, r.year) and alcaldia in (CITY, r.alcaldia) and modality in (BOTH, r.modality)
        ]
        totals = summed(rows)
        statuses = Counter(r.status for r in rows)
        target = None
        if alcaldia == CITY and modality == BOTH:
            target = (sum(known_targets) or None) if year == ALL_YEARS else facts.targets[year]
        figures: dict[str, Any] = {
            "totals": totals,
            "by_status": {status: n for status, n in statuses.items() if n},
            "funnel": {stage: sum(n for s, n in statuses.items() if s in members) for stage, members in FUNNEL.items()},
            "by_sex": grouped(rows, "sex"),
            "by_woman_headed": grouped(rows, "woman_headed"),
            "monthly_installations": dict(Counter(r.installed_month for r in rows if r.installed_month)),
            "target": {"systems": target, "progress": round(totals["installations"] / target, 4) if target else None},
        }
        if alcaldia == CITY:
            by_alcaldia = grouped(rows, "alcaldia")
            empty = summed([])
            figures["by_alcaldia"] = {
                code: {"name": facts.alcaldia_names[code], **by_alcaldia.get(code, empty)} for code in facts.alcaldias
            }
        else:
            figures["by_colonia"] = {
                colonia: {"name": facts.colonia_names[colonia], **measures}
                for colonia, measures in grouped(rows, "colonia").items()
            }
        expected[(year, alcaldia, modality)] = figures
    return expected


def comparable(figures: dict[str, Any]) -> dict[str, Any]:
    """A stored slice in the recount's shape."""

    def keyed(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
        keyed_rows = {row[key]: {k: v for k, v in row.items() if k != key} for row in rows}
        assert len(keyed_rows) == len(rows), f"{key} listed twice"
        return keyed_rows

    out = {
        "totals": figures["totals"],
        "by_status": {row["status"]: row["applications"] for row in figures["by_status"]},
        "funnel": {row["stage"]: row["applications"] for row in figures["funnel"]},
        "by_sex": keyed(figures["by_sex"], "sex"),
        "by_woman_headed": keyed(figures["by_woman_headed"], "woman_headed"),
        "monthly_installations": {row["month"]: row["installations"] for row in figures["monthly_installations"]},
        "target": figures["target"],
    }
    if "by_alcaldia" in figures:
        out["by_alcaldia"] = keyed(figures["by_alcaldia"], "alcaldia")
    if "by_colonia" in figures:
        out["by_colonia"] = keyed(figures["by_colonia"], "colonia")
    return out


@pytest.fixture(scope="module")
def expected(demo: CompiledDemo) -> dict[tuple[int, str, str], dict[str, Any]]:
    return recount(demo)


# --- The recount itself is right ---------------------------------------------------------------------
def test_the_compile_ran_on_the_chosen_day_over_every_alcaldia_with_colonias(demo):
    assert demo.as_of == TODAY
    assert demo.parameters["alcaldias"] == demo.facts.alcaldias
    assert EDGE_ALCALDIA in demo.facts.alcaldias
    assert demo.source_rows == len(demo.facts.applications)
    window = Window.of(demo.as_of)
    assert demo.parameters["maintenance_window"] == {
        "twelve_months_ago": window.twelve_months_ago.isoformat(),
        "season": window.preparation_starts.year + 1,
        "preparation_starts": window.preparation_starts.isoformat(),
        "in_rainy_season": window.in_rainy_season,
    }


def test_the_recount_agrees_with_the_hand_worked_edge_alcaldia(expected, demo):
    edge = expected[(ALL_YEARS, EDGE_ALCALDIA, BOTH)]
    assert edge["totals"] == demo.edge.totals
    assert edge["by_status"] == demo.edge.by_status
    assert edge["funnel"] == demo.edge.funnel
    assert edge["monthly_installations"] == demo.edge.monthly


def test_the_recount_agrees_with_the_databases_own_aggregates_for_the_city(expected, demo):
    city = expected[(ALL_YEARS, CITY, BOTH)]["totals"]
    assert {name: city[name] for name in demo.facts.orm_city_totals} == demo.facts.orm_city_totals


def test_the_data_exercises_every_measure(expected, demo):
    """Guards the recount's power: a zero everywhere would agree with a compile that forgot a measure."""
    # the two half-litre estimates (alcaldía rainfall and the city-wide one) round half up
    assert {12_113, 38_111} <= set(demo.facts.harvest_by_dwelling.values())
    city = expected[(ALL_YEARS, CITY, BOTH)]
    totals = city["totals"]
    assert 0 < totals["maintained_12m"] < totals["systems_active"]
    assert 0 < totals["maintenance_overdue"] < totals["systems_active"]
    assert totals["systems_active"] < totals["installations"] < totals["viable_visits"] < totals["applications"]
    assert set(city["by_status"]) == set(Status.values)
    assert set(city["by_sex"]) == {"M", "H", "X"}
    assert expected[(ALL_YEARS, CITY, Modality.PARTIAL_SUBSIDY)]["totals"]["systems_active"] > 0
    assert expected[(2024, CITY, BOTH)]["target"] == {"systems": None, "progress": None}


# --- The compile equals the recount -------------------------------------------------------------------
def test_every_scope_is_compiled_once(demo, expected):
    assert set(demo.slices) == set(expected)
    for (year, alcaldia, _modality), figures in demo.slices.items():
        assert ("by_alcaldia" in figures) == (alcaldia == CITY), (year, alcaldia)
        assert ("by_colonia" in figures) == (alcaldia != CITY), (year, alcaldia)


def test_the_hand_worked_edge_alcaldia_is_compiled_as_worked_out(demo):
    edge = comparable(demo.slices[(ALL_YEARS, EDGE_ALCALDIA, BOTH)])
    assert edge["totals"] == demo.edge.totals
    assert edge["by_status"] == demo.edge.by_status
    assert edge["funnel"] == demo.edge.funnel
    assert edge["monthly_installations"] == demo.edge.monthly


@pytest.mark.parametrize("breakdown", BREAKDOWNS)
def test_every_scope_matches_the_recount(demo, expected, breakdown):
    mismatches = []
    for scope, wanted in expected.items():
        if breakdown not in wanted:
            continue
        got = comparable(demo.slices[scope])[breakdown]
        if got != wanted[breakdown]:
            mismatches.append(_difference(scope, got, wanted[breakdown]))
    assert not mismatches, f"{len(mismatches)} of {len(expected)} scopes differ in {breakdown}:\n" + "\n".join(mismatches[:8])


def _difference(scope: tuple[int, str, str], got: Any, wanted: Any) -> str:
    if isinstance(got, dict) and isinstance(wanted, dict):
        keys = sorted(set(got) | set(wanted), key=str)
        parts = [f"{k}: compiled {got.get(k)!r} != recount {wanted.get(k)!r}" for k in keys if got.get(k) != wanted.get(k)]
        return f"  {scope}: " + "; ".join(parts[:4])
    return f"  {scope}: compiled {got!r} != recount {wanted!r}"


def test_lists_come_in_a_stable_reading_order(demo):
    for figures in demo.slices.values():
        months = [row["month"] for row in figures["monthly_installations"]]
        assert months == sorted(months)
        statuses = [row["status"] for row in figures["by_status"]]
        assert statuses == [s for s in Status.values if s in statuses]
        assert [row["stage"] for row in figures["funnel"]] == list(FUNNEL)
        if "by_alcaldia" in figures:
            codes = [row["alcaldia"] for row in figures["by_alcaldia"]]
            assert codes == sorted(codes)
