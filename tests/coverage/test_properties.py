"""Invariants of the reshaped figures, on generated per-alcaldía tables and on a real compiled snapshot.

Whatever the counts, the parts of a scope add up to the scope: alcaldías to the city, sexes and
woman-headed homes to the total, years to all years, modalities to both; the funnel never grows and
starts at the applications, and the statuses account for every application.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.compile import CUBE_KEYS, CUBE_MEASURES, MONTHLY_KEYS
from coverage.reshape import PartInput, build_scopes
from installations.lifecycle import Status
from installations.models import Modality

ALL_YEARS, CITY, BOTH = 0, "", ""
ADDITIVE = (
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
Scopes = dict[tuple[int, str, str], dict[str, Any]]

ALCALDIAS = ["09002", "09007", "09009"]
COLONIAS = {code: [10 * index + 1, 10 * index + 2] for index, code in enumerate(ALCALDIAS)}
YEARS = [2021, 2022]
MONTHS = ["2021-03", "2021-11", "2022-01", "2022-07"]
SEXES = ["M", "H", "X"]


def _additive(figures: dict[str, Any]) -> Counter[str]:
    return Counter({name: figures[name] for name in ADDITIVE})


def _sum(rows: list[dict[str, Any]]) -> Counter[str]:
    total: Counter[str] = Counter(dict.fromkeys(ADDITIVE, 0))
    for row in rows:
        total.update(_additive(row))
    return total


def _same(left: Counter[str], right: Counter[str]) -> bool:
    return all(left[name] == right[name] for name in ADDITIVE)


def _monthly(figures: dict[str, Any]) -> Counter[str]:
    return Counter({row["month"]: row["installations"] for row in figures["monthly_installations"]})


def assert_invariants(scopes: Scopes, *, years: list[int], alcaldias: list[str], modalities: list[str]) -> None:
    """Every additive figure adds up along each of the three scope keys and within each breakdown."""
    all_years, all_places, all_modalities = [ALL_YEARS, *years], [CITY, *alcaldias], [BOTH, *modalities]
    assert set(scopes) == {(y, a, m) for y in all_years for a in all_places for m in all_modalities}
    for (year, alcaldia, modality), figures in scopes.items():
        scope = (year, alcaldia, modality)
        totals = _additive(figures["totals"])
        # within the scope
        assert _same(_sum(figures["by_sex"]), totals), ("sexes", scope)
        assert _same(_sum(figures["by_woman_headed"]), totals), ("woman-headed", scope)
        assert {row["woman_headed"] for row in figures["by_woman_headed"]} <= {True, False}
        assert sum(row["applications"] for row in figures["by_status"]) == totals["applications"], ("statuses", scope)
        funnel = [row["applications"] for row in figures["funnel"]]
        assert funnel[0] == totals["applications"], ("funnel start", scope)
        assert funnel == sorted(funnel, reverse=True), ("funnel grows", scope, funnel)
        assert funnel[-1] <= totals["applications"]
        if alcaldia == CITY:
            assert [row["alcaldia"] for row in figures["by_alcaldia"]] == alcaldias, scope
            assert _same(_sum(figures["by_alcaldia"]), totals), ("alcaldías in the city's list", scope)
        else:
            assert _same(_sum(figures["by_colonia"]), totals), ("colonias", scope)
        # derived figures follow their totals
        assert figures["totals"]["water_trucks_per_year"] == round(totals["harvest_litres"] / 10_000, 1)
        active = totals["systems_active"]
        coverage = figures["totals"]["maintenance_coverage"]
        assert coverage == (round(totals["maintained_12m"] / active, 4) if active else None)
        # along the scope keys
        if alcaldia == CITY:
            parts = [scopes[(year, a, modality)] for a in alcaldias]
            assert _same(_sum([p["totals"] for p in parts]), totals), ("alcaldías → city", scope)
            assert sum((_monthly(p) for p in parts), Counter()) == _monthly(figures), ("monthly alcaldías → city", scope)
            for row in figures["by_alcaldia"]:
                assert _same(_additive(row), _additive(scopes[(year, row["alcaldia"], modality)]["totals"]))
        if year == ALL_YEARS:
            parts = [scopes[(y, alcaldia, modality)] for y in years]
            assert _same(_sum([p["totals"] for p in parts]), totals), ("years → all years", scope)
            assert sum((_monthly(p) for p in parts), Counter()) == _monthly(figures), ("monthly years → all", scope)
        if modality == BOTH:
            parts = [scopes[(year, alcaldia, m)] for m in modalities]
            assert _same(_sum([p["totals"] for p in parts]), totals), ("modalities → both", scope)
            assert sum((_monthly(p) for p in parts), Counter()) == _monthly(figures), ("monthly modalities → both", scope)


# --- Generated tables -------------------------------------------------------------------------------------
@st.composite
def part_inputs(draw: st.DrawFn) -> list[PartInput]:
    """One to three alcaldías' grouped tables, as a compile stores them (unique keys, positive counts)."""
    chosen = draw(st.lists(st.sampled_from(ALCALDIAS), min_size=1, max_size=3, unique=True))
    parts = []
    for code in sorted(chosen):
        keys = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(YEARS),
                    st.sampled_from(COLONIAS[code]),
                    st.sampled_from(Modality.values),
                    st.sampled_from(SEXES),
                    st.booleans(),
                    st.sampled_from(Status.values),
                ),
                max_size=8,
                unique=True,
            )
        )
        rows = [[*key, draw(st.integers(1, 40)), *draw(st.lists(st.integers(0, 60_000), min_size=8, max_size=8))] for key in keys]
        months = draw(
            st.lists(
                st.tuples(st.sampled_from(YEARS), st.sampled_from(Modality.values), st.sampled_from(MONTHS)),
                max_size=5,
                unique=True,
            )
        )
        parts.append(
            PartInput(
                alcaldia_id=code,
                cube={"columns": CUBE_KEYS + CUBE_MEASURES, "rows": rows},
                monthly={"columns": [*MONTHLY_KEYS, "installations"], "rows": [[*m, draw(st.integers(1, 30))] for m in months]},
            )
        )
    return parts


def _build(parts: list[PartInput], targets: dict[int, int | None]) -> Scopes:
    scopes = build_scopes(
        parts,
        years=YEARS,
        targets=targets,
        modalities=list(Modality.values),
        alcaldia_names={code: f"Alcaldía {code}" for code in ALCALDIAS},
        colonia_names={c: f"Colonia {c}" for cs in COLONIAS.values() for c in cs},
    )
    return {(s.program_year, s.alcaldia, s.modality): s.figures for s in scopes}


targets_strategy = st.fixed_dictionaries({year: st.none() | st.integers(1, 500) for year in YEARS})


@settings(max_examples=40, deadline=None)
@given(parts=part_inputs(), targets=targets_strategy)
def test_generated_tables_add_up_along_every_scope_key(parts, targets):
    scopes = _build(parts, targets)
    assert_invariants(scopes, years=YEARS, alcaldias=[p.alcaldia_id for p in parts], modalities=list(Modality.values))


@settings(max_examples=25, deadline=None)
@given(parts=part_inputs(), targets=targets_strategy)
def test_the_city_of_all_years_and_both_modalities_is_every_row_summed(parts, targets):
    scopes = _build(parts, targets)
    rows = [row for part in parts for row in part.cube["rows"]]
    expected = {name: sum(row[len(CUBE_KEYS) + i] for row in rows) for i, name in enumerate(CUBE_MEASURES)}
    totals = scopes[(ALL_YEARS, CITY, BOTH)]["totals"]
    assert {name: totals[name] for name in CUBE_MEASURES} == expected
    statuses = Counter()
    for row in rows:
        statuses[row[CUBE_KEYS.index("status")]] += row[len(CUBE_KEYS)]
    assert {r["status"]: r["applications"] for r in scopes[(ALL_YEARS, CITY, BOTH)]["by_status"]} == +statuses


@settings(max_examples=25, deadline=None)
@given(parts=part_inputs(), targets=targets_strategy)
def test_only_the_city_with_both_modalities_has_a_target(parts, targets):
    scopes = _build(parts, targets)
    known = sum(t for t in targets.values() if t) or None
    for (year, alcaldia, modality), figures in scopes.items():
        target = figures["target"]
        if alcaldia != CITY or modality != BOTH:
            assert target == {"systems": None, "progress": None}
            continue
        systems = known if year == ALL_YEARS else targets[year]
        installations = figures["totals"]["installations"]
        assert target == {"systems": systems, "progress": round(installations / systems, 4) if systems else None}


def test_no_rows_at_all_still_gives_every_scope_in_zeros():
    parts = [PartInput(alcaldia_id="09002", cube={"columns": [], "rows": []}, monthly={"columns": [], "rows": []})]
    scopes = _build(parts, {2021: 100, 2022: None})
    assert_invariants(scopes, years=YEARS, alcaldias=["09002"], modalities=list(Modality.values))
    city = scopes[(ALL_YEARS, CITY, BOTH)]
    assert city["totals"]["applications"] == 0
    assert city["totals"]["maintenance_coverage"] is None
    assert city["target"] == {"systems": 100, "progress": 0.0}
    assert [row["applications"] for row in city["funnel"]] == [0] * 6


# --- A real snapshot --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_compiled_snapshot_of_the_demo_keeps_every_invariant(demo):
    years = sorted(demo.facts.targets)
    assert_invariants(demo.slices, years=years, alcaldias=demo.facts.alcaldias, modalities=list(Modality.values))
