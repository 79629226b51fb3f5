"""A seeded demo program plus hand-made edge cases, compiled, and read back as plain rows for recounting.

``compiled_demo`` runs inside one transaction that it rolls back: the tests get plain Python data
(the stored figures of every slice, and the source rows a recount needs), never database rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from coverage.models import CoverageSnapshot
from coverage.services import coverage_compile_inline, coverage_refresh_request
from installations.lifecycle import WORKING_SYSTEM_STATUSES, Status
from installations.models import (
    Alcaldia,
    Application,
    Colonia,
    Dwelling,
    Installation,
    MaintenanceVisit,
    Modality,
    ProgramYear,
    TechnicalVisit,
)
from installations.selectors import dwelling_harvest_estimate
from tests.factories import (
    ApplicationFactory,
    ColoniaFactory,
    DwellingFactory,
    InstallationFactory,
    MaintenanceVisitFactory,
    TechnicalVisitFactory,
)

MEXICO_CITY = ZoneInfo("America/Mexico_City")
# The compile day: the rainy season, so every branch of "maintenance overdue" can fire.
TODAY = date(2024, 8, 20)
YEAR_AGO = date(2023, 8, 20)
PREPARATION_STARTS = date(2023, 11, 1)
EDGE_ALCALDIA = "09004"  # Cuajimalpa: not in the demo, and with its own rainfall (1,140.0 mm)


class Clock:
    """``timezone.now`` for the tests: set to a moment, then one microsecond later at every call.

    The tick keeps timestamps distinct (snapshots are ordered by ``published_at``) without ever
    crossing a day, so ``timezone.localdate()`` stays the day the test chose.
    """

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(microseconds=1)
        return self.at

    def set(self, at: datetime) -> None:
        assert at >= self.at, "the clock only moves forward (durations would turn negative)"
        self.at = at

    def local(self, hour: int, minute: int = 0, *, days: int = 0) -> datetime:
        """Today's (plus ``days``) local time in Mexico City."""
        day = self.at.astimezone(MEXICO_CITY).date() + timedelta(days=days)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=MEXICO_CITY)


# --- Hand-made rows ---------------------------------------------------------------------------------
def request(
    colonia: Colonia,
    status: str,
    *,
    year: int = 2023,
    modality: str = Modality.TOTAL_SUBSIDY,
    sex: str = "M",
    woman_headed: bool = True,
    dwelling: Dwelling | None = None,
    roof: str = "concreto",
    area: str = "40.00",
    occupants: int = 4,
    visits: tuple[str, ...] = ("viable",),
) -> Application:
    """A request in ``status`` with its household, dwelling and technical visits (by outcome)."""
    dwelling = dwelling or DwellingFactory(colonia=colonia, roof_material=roof, roof_area_m2=Decimal(area), occupants=occupants)
    application = ApplicationFactory(
        status=status,
        modality=modality,
        program_year=ProgramYear.objects.get(year=year),
        applicant__sex=sex,
        applicant__woman_headed_household=woman_headed,
        dwelling=dwelling,
    )
    for outcome in visits:
        TechnicalVisitFactory(application=application, outcome=outcome)
    return application


def system(
    application: Application,
    installed_on: date,
    *,
    removed_on: date | None = None,
    tank: int = 2500,
    maintenance: tuple[tuple[date, date], ...] = (),
) -> Installation:
    """The request's installation and its maintenance visits, as (visited_on, next_due_on)."""
    installation = InstallationFactory(
        application=application, installed_on=installed_on, removed_on=removed_on, tank_capacity_litres=tank
    )
    for visited_on, next_due_on in maintenance:
        MaintenanceVisitFactory(installation=installation, visited_on=visited_on, next_due_on=next_due_on)
    return installation


@dataclass(frozen=True)
class EdgeAlcaldia:
    """What the hand-made rows of Cuajimalpa add up to, worked out by hand (all years, both modalities)."""

    totals: dict[str, Any]
    by_status: dict[str, int]
    funnel: dict[str, int]
    monthly: dict[str, int]


def edge_rows() -> EdgeAlcaldia:
    """Rows on the boundaries of every definition: in Cuajimalpa (hand-counted), and two in a demo alcaldía."""
    one = ColoniaFactory(alcaldia_id=EDGE_ALCALDIA, name="Borde Uno")
    two = ColoniaFactory(alcaldia_id=EDGE_ALCALDIA, name="Borde Dos")
    # A: removed, though its request was never moved out of needs_maintenance: not working.
    a = request(one, Status.NEEDS_MAINTENANCE, year=2022, occupants=5)
    system(a, date(2022, 3, 1), removed_on=date(2023, 2, 1))
    # B: the replacement at A's dwelling; installed before the season's preparation and not visited since: overdue.
    b = request(one, Status.ACTIVE, dwelling=a.dwelling)
    system(b, date(2023, 3, 1))
    # C: an asbestos roof harvests nothing but still serves its household; installed after preparation began.
    c = request(one, Status.ACTIVE, roof="asbesto", occupants=3)
    system(c, date(2023, 12, 1), tank=1100)
    # D: 1,140.0 mm × 12.50 m² × 0.85 = 12,112.5 L rounds half up; installed the day preparation began; visited today.
    d = request(two, Status.ACTIVE, area="12.50", occupants=2, sex="H")
    system(d, PREPARATION_STARTS, maintenance=((TODAY, TODAY + timedelta(days=180)),))
    # E: flagged, though visited on the first day of preparation and not yet due: overdue by its status alone.
    e = request(two, Status.NEEDS_MAINTENANCE, area="30.00", occupants=6)
    system(e, date(2023, 1, 10), maintenance=((PREPARATION_STARTS, date(2024, 9, 1)),))
    # F: visited exactly twelve months ago (not within them), due exactly today (not yet late); overdue by the season.
    f = request(one, Status.ACTIVE, year=2022, area="20.00", woman_headed=False)
    system(f, date(2022, 6, 1), maintenance=((YEAR_AGO, TODAY),))
    # G: non-binary applicant, partial subsidy; visited only after the cut-off date (not within the twelve months).
    g = request(one, Status.ACTIVE, area="10.00", sex="X", woman_headed=False, modality=Modality.PARTIAL_SUBSIDY)
    system(g, date(2023, 5, 1), maintenance=((date(2024, 9, 1), date(2025, 3, 1)),))
    # H: an inactive system is installed but not working.
    h = request(two, Status.INACTIVE, area="25.00")
    system(h, date(2023, 4, 1))
    # I: just installed, 2024 (a year without a target).
    i = request(two, Status.INSTALLED, year=2024, area="15.00", occupants=1)
    system(i, date(2024, 8, 1))
    # J: installed before preparation began and visited on its first day, not yet due: neither late nor unprepared.
    j = request(two, Status.ACTIVE)
    system(j, date(2023, 2, 1), maintenance=((PREPARATION_STARTS, date(2024, 10, 1)),))
    # K: installed the day preparation began, never visited: nothing due yet, and not installed before preparation.
    system(request(two, Status.ACTIVE), PREPARATION_STARTS)
    # L: installed after preparation began, visited in February, due exactly today: not yet late.
    due_today = request(one, Status.ACTIVE, area="35.00")
    system(due_today, date(2023, 12, 15), maintenance=((date(2024, 2, 20), TODAY),))
    # M: says active but has no installation row; N: two viable visits and a not-viable one, counted once.
    request(one, Status.ACTIVE, visits=())
    request(one, Status.VISIT_DONE, visits=("viable", "not_viable", "viable_with_adjustments"))
    # O, P: still registered, and withdrawn.
    request(two, Status.REGISTERED, visits=())
    request(one, Status.WITHDRAWN, visits=())

    # Two in a demo alcaldía on the city-wide rainfall: 846.9 × 50.00 × 0.90 = 38,110.5 L; and a cardboard roof.
    demo_colonia = Colonia.objects.filter(alcaldia_id="09005").order_by("pk").first()
    system(request(demo_colonia, Status.ACTIVE, roof="lamina_plastica", area="50.00"), date(2023, 6, 15))
    system(request(demo_colonia, Status.NEEDS_MAINTENANCE, roof="carton", year=2021), date(2021, 9, 9))

    return EdgeAlcaldia(
        totals={
            "applications": 16,
            "viable_visits": 13,
            "installations": 12,
            "systems_active": 10,
            "people_served": 5 + 3 + 2 + 6 + 4 + 4 + 4 + 4 + 4 + 1,
            "storage_litres": 1100 + 9 * 2500,
            "harvest_litres": 38_760 + 0 + 12_113 + 29_070 + 38_760 + 38_760 + 33_915 + 19_380 + 9_690 + 14_535,
            "maintained_12m": 4,
            "maintenance_overdue": 3,
            "water_trucks_per_year": 23.5,
            "maintenance_coverage": 0.4,
        },
        by_status={
            Status.NEEDS_MAINTENANCE: 2,
            Status.ACTIVE: 9,
            Status.INACTIVE: 1,
            Status.INSTALLED: 1,
            Status.VISIT_DONE: 1,
            Status.REGISTERED: 1,
            Status.WITHDRAWN: 1,
        },
        funnel={"registered": 16, "documents_complete": 14, "visited": 14, "viable": 13, "installed": 13, "working": 12},
        monthly={
            "2022-03": 1,
            "2022-06": 1,
            "2023-01": 1,
            "2023-02": 1,
            "2023-03": 1,
            "2023-04": 1,
            "2023-05": 1,
            "2023-11": 2,
            "2023-12": 2,
            "2024-08": 1,
        },
    )


# --- The compiled program, as plain data ------------------------------------------------------------
@dataclass
class Facts:
    """The source rows a recount needs, read with the ORM, one ``values()`` query per table."""

    applications: list[dict[str, Any]]
    installations: dict[int, dict[str, Any]]  # by application id
    viable_application_ids: set[int]
    maintenance: dict[int, list[tuple[date, date]]]  # by installation id: (visited_on, next_due_on)
    harvest_by_dwelling: dict[int, int]
    targets: dict[int, int | None]
    alcaldia_names: dict[str, str]
    colonia_names: dict[int, str]
    alcaldias: list[str]
    orm_city_totals: dict[str, int] = field(default_factory=dict)


@dataclass
class CompiledDemo:
    as_of: date
    slices: dict[tuple[int, str, str], dict[str, Any]]
    facts: Facts
    edge: EdgeAlcaldia
    source_rows: int
    parameters: dict[str, Any]


def read_facts() -> Facts:
    applications = list(
        Application.objects.order_by("pk").values(
            "id",
            "status",
            "modality",
            "dwelling_id",
            year=F("program_year_id"),
            sex=F("applicant__sex"),
            woman_headed=F("applicant__woman_headed_household"),
            colonia=F("dwelling__colonia_id"),
            alcaldia=F("dwelling__colonia__alcaldia_id"),
            occupants=F("dwelling__occupants"),
        )
    )
    installations = {
        row["application_id"]: row
        for row in Installation.objects.values(
            "id", "application_id", "dwelling_id", "installed_on", "removed_on", "tank_capacity_litres"
        )
    }
    viable = set(
        TechnicalVisit.objects.filter(
            outcome__in=[TechnicalVisit.Outcome.VIABLE, TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS]
        ).values_list("application_id", flat=True)
    )
    maintenance: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for installation_id, visited_on, next_due_on in MaintenanceVisit.objects.values_list(
        "installation_id", "visited_on", "next_due_on"
    ):
        maintenance[installation_id].append((visited_on, next_due_on))
    # The harvest is defined as the dwelling's own estimate (None for an unsuitable roof counts 0).
    harvest = {
        dwelling.pk: dwelling_harvest_estimate(dwelling=dwelling).litres_per_year or 0
        for dwelling in Dwelling.objects.filter(pk__in=[row["dwelling_id"] for row in applications]).select_related("colonia")
    }
    return Facts(
        applications=applications,
        installations=installations,
        viable_application_ids=viable,
        maintenance=dict(maintenance),
        harvest_by_dwelling=harvest,
        targets=dict(ProgramYear.objects.values_list("year", "target_systems")),
        alcaldia_names=dict(Alcaldia.objects.values_list("cvegeo", "name")),
        colonia_names=dict(Colonia.objects.values_list("id", "name")),
        alcaldias=sorted(set(Colonia.objects.values_list("alcaldia_id", flat=True))),
    )


def compiled_demo() -> CompiledDemo:
    """Seed, add the edge rows, compile at 18:00 on ``TODAY``, read everything back, roll it all back."""
    clock = timezone.now
    assert isinstance(clock, Clock), "compiled_demo needs the test clock in place"
    with transaction.atomic():
        call_command("seed_demo", installations=600, seed=7, today=TODAY, verbosity=0)
        edge = edge_rows()
        clock.set(clock.local(18))
        job, _ = coverage_refresh_request(by=None)
        snapshot = coverage_compile_inline(job)
        assert snapshot is not None
        slices = {(s.program_year, s.alcaldia, s.modality): s.figures for s in snapshot.slices.all()}
        facts = read_facts()
        facts.orm_city_totals = orm_city_totals(as_of=snapshot.as_of)
        demo = CompiledDemo(
            as_of=snapshot.as_of,
            slices=slices,
            facts=facts,
            edge=edge,
            source_rows=snapshot.source_rows,
            parameters=snapshot.parameters,
        )
        transaction.set_rollback(True)
    return demo


def orm_city_totals(*, as_of: date) -> dict[str, int]:
    """The whole city's counts once more, by the database's own aggregates (a second, different recount)."""
    working = Installation.objects.filter(removed_on=None, application__status__in=WORKING_SYSTEM_STATUSES)
    visits = MaintenanceVisit.objects.filter(installation=OuterRef("pk"))
    totals = Application.objects.aggregate(
        applications=Count("pk", distinct=True),
        installations=Count("installation", distinct=True),
        viable_visits=Count("pk", filter=Q(technical_visits__outcome__in=["viable", "viable_with_adjustments"]), distinct=True),
    )
    totals |= working.aggregate(
        systems_active=Count("pk"),
        people_served=Sum("application__dwelling__occupants"),
        storage_litres=Sum("tank_capacity_litres"),
    )
    totals["maintained_12m"] = working.filter(Exists(visits.filter(visited_on__gt=YEAR_AGO, visited_on__lte=as_of))).count()
    next_due = visits.order_by().values("installation_id").annotate(latest=Max("next_due_on")).values("latest")
    totals["maintenance_overdue"] = (
        working.annotate(next_due=Subquery(next_due))
        .filter(
            Q(application__status=Status.NEEDS_MAINTENANCE)
            | Q(next_due__lt=as_of)
            | (Q(installed_on__lt=PREPARATION_STARTS) & ~Exists(visits.filter(visited_on__gte=PREPARATION_STARTS)))
        )
        .count()
    )
    return totals


def compile_now(*, incremental: bool = False) -> CoverageSnapshot:
    job, created = coverage_refresh_request(by=None, incremental=incremental)
    assert created
    snapshot = coverage_compile_inline(job)
    assert snapshot is not None
    return snapshot


def figures_of(snapshot: CoverageSnapshot) -> dict[tuple[int, str, str], dict[str, Any]]:
    """Every slice's figures, with the lists of alcaldías sorted (their order has a test of its own)."""
    slices = {(s.program_year, s.alcaldia, s.modality): s.figures for s in snapshot.slices.all()}
    for figures in slices.values():
        if "by_alcaldia" in figures:
            figures["by_alcaldia"] = sorted(figures["by_alcaldia"], key=lambda row: row["alcaldia"])
    return slices
