"""What the managers' dashboard reads: the filters, the latest snapshot's figures for them, and map points.

The figures come from the stored slices of the latest snapshot only (a handful of rows, whatever the
number of installations): this module adds up the slices of a coordinator's alcaldías and derives
shares from the stored counts, the way ``docs/coverage.md`` defines them. Map points are the
coordinates alone of the most recent systems the user may see, rounded to about 100 m.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from api.coverage import FUNNEL_LABELS
from coverage.compile import CUBE_MEASURES
from coverage.models import CoverageSlice, CoverageSnapshot
from coverage.reshape import WATER_TRUCK_LITRES
from coverage.services import COVERAGE_LANE, coverage_latest_snapshot, coverage_slices
from installations.lifecycle import Status
from installations.models import Alcaldia, Installation, Modality, ProgramYear, User
from worker.models import ACTIVE_JOB_STATES, Job, JobKind

# The map shows at most this many systems, the most recently installed (the page says so when it is capped).
MAP_POINTS_LIMIT = 20_000
# Decimal places kept of each coordinate: 3 is about 110 m, enough to place a cluster, too coarse for a door.
MAP_COORDINATE_DECIMALS = 3
# Width of one month's column in the chart's own units (the bar is one unit narrower).
MONTH_WIDTH = 10
COVERAGE_JOB_KINDS = (JobKind.COVERAGE_FULL, JobKind.COVERAGE_INCREMENTAL)


def is_city_wide(user: User) -> bool:
    """Administrators (and superusers) see the whole city; coordinators only the alcaldías they cover."""
    return bool(user.is_superuser or user.role == User.Role.ADMINISTRATOR)


def scope_alcaldias(user: User) -> list[Alcaldia]:
    """The alcaldías whose figures the user may read, in INEGI order (one query)."""
    if is_city_wide(user):
        return list(Alcaldia.objects.order_by("cvegeo"))
    return list(user.alcaldias.order_by("cvegeo"))


class DashboardFilterForm(forms.Form):
    """The dashboard's filters (GET). An empty value means every year, every alcaldía of the user, both modalities."""

    program_year = forms.TypedChoiceField(
        label=_("Año del programa"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("Elija uno de los años del programa.")},
    )
    alcaldia = forms.ChoiceField(
        label=_("Alcaldía"),
        required=False,
        error_messages={"invalid_choice": _("Elija una de las alcaldías que puede consultar.")},
    )
    modality = forms.ChoiceField(
        label=_("Modalidad"),
        required=False,
        error_messages={"invalid_choice": _("Elija una de las modalidades.")},
    )

    def __init__(self, *args: Any, alcaldias: list[Alcaldia], city_wide: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.city_wide = city_wide
        self.alcaldias = alcaldias  # read once, for the choices and the figures' names
        years = list(ProgramYear.objects.order_by("-year").values_list("year", flat=True))
        self.fields["program_year"].choices = [("", _("Todos los años")), *((y, str(y)) for y in years)]
        everything = _("Toda la ciudad") if city_wide else _("Todas mis alcaldías")
        self.fields["alcaldia"].choices = [("", everything), *((a.cvegeo, a.name) for a in alcaldias)]
        self.fields["modality"].choices = [("", _("Ambas modalidades")), *Modality.choices]

    def chosen(self) -> dict[str, Any]:
        """The valid filters given, by the API's parameter names (empty ones left out)."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


@dataclass(frozen=True)
class Row:
    """One line of a breakdown: a key, its label and a count, with its share of the longest bar (0–100)."""

    key: str
    label: str
    value: int
    bar_percent: float = 0.0


@dataclass
class AlcaldiaRow:
    cvegeo: str
    name: str
    totals: dict[str, Any]
    bar_percent: float = 0.0


@dataclass
class DashboardFigures:
    """The figures one dashboard view shows, for the scope its filters select."""

    snapshot: CoverageSnapshot
    totals: dict[str, Any]
    woman_headed_installations: int
    woman_headed_share: float | None
    target_systems: int | None
    target_progress: float | None
    alcaldias: list[AlcaldiaRow] = field(default_factory=list)
    funnel: list[Row] = field(default_factory=list)
    by_status: list[Row] = field(default_factory=list)
    monthly: list[Row] = field(default_factory=list)

    @property
    def monthly_max(self) -> int:
        return max((row.value for row in self.monthly), default=0)

    @property
    def monthly_last(self) -> str:
        return self.monthly[-1].label if self.monthly else ""

    @property
    def woman_headed_percent(self) -> float | None:
        return None if self.woman_headed_share is None else round(100 * self.woman_headed_share, 1)

    @property
    def target_percent(self) -> float | None:
        return None if self.target_progress is None else round(100 * self.target_progress, 1)

    @property
    def maintenance_percent(self) -> float | None:
        coverage = self.totals["maintenance_coverage"]
        return None if coverage is None else round(100 * coverage, 1)

    @property
    def monthly_bars(self) -> list[dict[str, Any]]:
        """The months as columns of an SVG chart MONTH_WIDTH wide each and 100 high (the busiest month)."""
        return [
            {"x": i * MONTH_WIDTH, "y": round(100 - row.bar_percent, 1), "height": row.bar_percent, "row": row}
            for i, row in enumerate(self.monthly)
        ]

    @property
    def monthly_width(self) -> int:
        return max(len(self.monthly), 1) * MONTH_WIDTH


def _summed_totals(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    totals = {name: sum(int(p[name]) for p in pieces) for name in CUBE_MEASURES}
    totals["water_trucks_per_year"] = round(totals["harvest_litres"] / WATER_TRUCK_LITRES, 1)
    active = totals["systems_active"]
    totals["maintenance_coverage"] = round(totals["maintained_12m"] / active, 4) if active else None
    return totals


def _with_bars(rows: list[Row]) -> list[Row]:
    top = max((row.value for row in rows), default=0)
    return [Row(r.key, r.label, r.value, round(100 * r.value / top, 1) if top else 0.0) for r in rows]


def _months_between(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def figures_for(*, snapshot: CoverageSnapshot, slices: list[CoverageSlice], names: dict[str, str]) -> DashboardFigures:
    """The dashboard's figures from the scope's slices: the city's one, or one per alcaldía (added up)."""
    city = len(slices) == 1 and slices[0].alcaldia == ""
    figures = [s.figures for s in slices]
    totals = _summed_totals([f["totals"] for f in figures])
    if city:
        rows = [
            AlcaldiaRow(r["alcaldia"], r["name"] or names.get(r["alcaldia"], ""), r)
            for r in sorted(figures[0]["by_alcaldia"], key=lambda r: r["alcaldia"])
        ]
        target = figures[0]["target"]
    else:
        rows = [AlcaldiaRow(s.alcaldia, names.get(s.alcaldia, s.alcaldia), s.figures["totals"]) for s in slices]
        target = figures[0]["target"] if len(figures) == 1 else {"systems": None, "progress": None}
    top = max((r.totals["installations"] for r in rows), default=0)
    for row in rows:
        row.bar_percent = round(100 * row.totals["installations"] / top, 1) if top else 0.0

    woman_headed = sum(r["installations"] for f in figures for r in f["by_woman_headed"] if r["woman_headed"])
    installations = totals["installations"]

    stages: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    months: Counter[str] = Counter()
    for f in figures:
        stages.update({r["stage"]: r["applications"] for r in f["funnel"]})
        statuses.update({r["status"]: r["applications"] for r in f["by_status"]})
        months.update({r["month"]: r["installations"] for r in f["monthly_installations"]})
    funnel = [Row(stage, str(label), stages.get(stage, 0)) for stage, label in FUNNEL_LABELS.items()]
    by_status = [Row(s.value, str(s.label), statuses[s.value]) for s in Status if statuses.get(s.value)]
    # Every month from the first installation to the last, zeros included, so the time axis is even.
    monthly = [Row(m, m, months.get(m, 0)) for m in _months_between(min(months), max(months))] if months else []
    return DashboardFigures(
        snapshot=snapshot,
        totals=totals,
        woman_headed_installations=woman_headed,
        woman_headed_share=round(woman_headed / installations, 4) if installations else None,
        target_systems=target["systems"],
        target_progress=target["progress"],
        alcaldias=rows,
        funnel=_with_bars(funnel),
        by_status=_with_bars(by_status),
        monthly=_with_bars(monthly),
    )


def dashboard_figures(*, filters: dict[str, Any], alcaldias: list[Alcaldia], city_wide: bool) -> DashboardFigures | None:
    """The latest snapshot's figures for the filters (two queries), or None before the first compile."""
    snapshot = coverage_latest_snapshot()
    if snapshot is None:
        return None
    wanted = filters.get("alcaldia")
    if wanted:
        codes = [wanted]
    elif city_wide:
        codes = [""]
    else:
        codes = [a.cvegeo for a in alcaldias]
    slices = coverage_slices(
        snapshot=snapshot,
        program_year=filters.get("program_year") or 0,
        alcaldias=codes,
        modality=filters.get("modality", ""),
    )
    if not slices:
        return None
    return figures_for(snapshot=snapshot, slices=slices, names={a.cvegeo: a.name for a in alcaldias})


def coverage_job_active() -> Job | None:
    """The coverage compile queued or running now, if any (at most one: one lane)."""
    return Job.objects.filter(lane=COVERAGE_LANE, state__in=ACTIVE_JOB_STATES).order_by("-created_at").first()


def coverage_job(job_id: Any) -> Job | None:
    """A coverage compile's job by id; None for any other kind of job (exports lead to personal data)."""
    return Job.objects.filter(pk=job_id, kind__in=COVERAGE_JOB_KINDS).first()


def map_points_queryset(*, user: User, filters: dict[str, Any]) -> QuerySet[Installation]:
    """Systems in service the user may see, with coordinates, most recently installed first."""
    queryset = Installation.objects.visible_to(user).filter(
        removed_on=None, dwelling__latitude__isnull=False, dwelling__longitude__isnull=False
    )
    if filters.get("alcaldia"):
        queryset = queryset.filter(dwelling__colonia__alcaldia=filters["alcaldia"])
    if filters.get("program_year"):
        queryset = queryset.filter(application__program_year=filters["program_year"])
    if filters.get("modality"):
        queryset = queryset.filter(application__modality=filters["modality"])
    return queryset.order_by("-installed_on", "-pk")


def map_points(*, user: User, filters: dict[str, Any], limit: int = MAP_POINTS_LIMIT) -> tuple[list[list[float]], bool]:
    """Up to ``limit`` [latitude, longitude] pairs, rounded, and whether there were more (one narrow query)."""
    rows = list(
        map_points_queryset(user=user, filters=filters).values_list("dwelling__latitude", "dwelling__longitude")[: limit + 1]
    )
    points = [
        [round(float(lat), MAP_COORDINATE_DECIMALS), round(float(lon), MAP_COORDINATE_DECIMALS)] for lat, lon in rows[:limit]
    ]
    return points, len(rows) > limit
