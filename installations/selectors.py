"""Reads: scoped querysets and the harvest estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from installations.identifiers import folio_display
from installations.lifecycle import CLOSED_STATUSES, Status
from installations.models import (
    Alcaldia,
    Application,
    Colonia,
    Dwelling,
    EligibleColonia,
    FieldPhoto,
    Installation,
    MaintenanceVisit,
    ProgramYear,
    RainfallReference,
    RoofCoefficient,
    TechnicalVisit,
    User,
)

# One pipa (water truck) carries 10,000 L (brief §4.4).
WATER_TRUCK_LITRES = 10_000
# A system never maintained is due this long after its installation (twice a year; domain.md §3.2).
FIRST_MAINTENANCE_AFTER = timedelta(days=182)
# The worklist shows maintenance due within this window (and everything overdue), up to a cap.
WORKLIST_HORIZON = timedelta(days=30)
WORKLIST_LIMIT = 200
# Mean Earth radius (IUGG), for the worklist's nearest-first order.
EARTH_RADIUS_KM = 6371.0088


# --- Reference data -------------------------------------------------------------------------------
def alcaldia_queryset() -> QuerySet[Alcaldia]:
    return Alcaldia.objects.order_by("cvegeo")


def colonia_queryset() -> QuerySet[Colonia]:
    return Colonia.objects.order_by("alcaldia_id", "name")


def registrable_colonia_queryset(*, user: User) -> QuerySet[Colonia]:
    """Where a member of staff may register a request: a coordinator only inside the alcaldías she covers."""
    if user.role == User.Role.COORDINATOR and not user.is_superuser:
        return Colonia.objects.filter(alcaldia__in=user.alcaldias.all())
    return Colonia.objects.all()


def program_year_queryset() -> QuerySet[ProgramYear]:
    return ProgramYear.objects.prefetch_related("alcaldias").order_by("-year")


def eligible_colonia_queryset(*, program_year: ProgramYear) -> QuerySet[EligibleColonia]:
    return EligibleColonia.objects.filter(program_year=program_year).select_related("colonia__alcaldia").order_by("pk")


def technician_queryset() -> QuerySet[User]:
    """People a request or a system can be assigned to."""
    return User.objects.filter(role=User.Role.TECHNICIAN, is_active=True)


# --- Field records, scoped to the caller ------------------------------------------------------------
def application_queryset(*, user: User) -> QuerySet[Application]:
    """The requests a member of staff may see, with what a list shows."""
    return (
        Application.objects.visible_to(user)
        .select_related("applicant", "dwelling__colonia__alcaldia", "program_year", "assigned_technician")
        .order_by("-created_at")
    )


def technical_visit_queryset(*, user: User) -> QuerySet[TechnicalVisit]:
    return TechnicalVisit.objects.visible_to(user).select_related("application__dwelling__colonia__alcaldia").order_by("-pk")


def installation_queryset(*, user: User) -> QuerySet[Installation]:
    return (
        Installation.objects.visible_to(user)
        .select_related("application", "dwelling__colonia__alcaldia")
        .prefetch_related("components")
        .order_by("-pk")
    )


# The columns of an installation list row, read as plain values (no model instances per row).
INSTALLATION_LIST_COLUMNS = (
    "pk",
    "application_id",
    "application__folio",
    "application__status",
    "dwelling__colonia__alcaldia_id",
    "dwelling__colonia_id",
    "dwelling__colonia__name",
    "technician_id",
    "installer_id",
    "installed_on",
    "tank_capacity_litres",
    "funding_source",
    "training_on",
    "removed_on",
    "version",
)


def installation_list_queryset(*, user: User) -> QuerySet[Installation]:
    """A page of installations as a list shows them: the summary's columns as dicts, one narrow query."""
    return Installation.objects.visible_to(user).order_by("-pk").values(*INSTALLATION_LIST_COLUMNS)


def maintenance_visit_queryset(*, user: User) -> QuerySet[MaintenanceVisit]:
    return (
        MaintenanceVisit.objects.visible_to(user)
        .select_related("installation__application", "installation__dwelling__colonia__alcaldia")
        .order_by("-pk")
    )


def field_photo_queryset(*, user: User) -> QuerySet[FieldPhoto]:
    """The field photos a member of staff may see: those of the records she may see (same scoping rule)."""
    return FieldPhoto.objects.filter(
        Q(technical_visit__in=TechnicalVisit.objects.visible_to(user).values("pk"))
        | Q(installation__in=Installation.objects.visible_to(user).values("pk"))
        | Q(maintenance_visit__in=MaintenanceVisit.objects.visible_to(user).values("pk"))
    )


# --- A technician's worklist --------------------------------------------------------------------------
@dataclass(frozen=True)
class WorklistItem:
    """A place to go: a technical visit not yet made, a system to install or a system whose maintenance is due."""

    # "technical_visit" (id of the visit), "installation" (id of the request) or "maintenance" (id of the system)
    kind: str
    id: int
    due_on: date
    overdue: bool
    application_id: int
    folio: str
    dwelling: Dwelling
    # Kilometres from where the caller stands, when the list was ordered by distance and the home has a position.
    distance_km: float | None = None

    @property
    def folio_display(self) -> str:
        return folio_display(self.folio)


@dataclass(frozen=True)
class Worklist:
    items: list[WorklistItem]
    truncated: bool
    by_distance: bool = False


def worklist(
    *, user: User, today: date | None = None, limit: int = WORKLIST_LIMIT, include_installations: bool = False
) -> Worklist:
    """The caller's pending technical visits and due maintenance, soonest first, in three queries.

    A system is due on its latest maintenance visit's next date, or ``FIRST_MAINTENANCE_AFTER`` its
    installation when it has none; it is listed when due within ``WORKLIST_HORIZON`` or overdue.
    With ``include_installations``, the requests scheduled for installation that are the caller's
    (assigned to her, or visited by her) come too, in one more query: they have no date of their own,
    so each is listed from the day it was scheduled and is never overdue.
    """
    today = today or timezone.localdate()
    horizon = today + WORKLIST_HORIZON
    visits = (
        TechnicalVisit.objects.filter(technician=user, visited_on=None)
        .exclude(application__status__in=CLOSED_STATUSES)
        .select_related("application__dwelling__colonia__alcaldia")
        .order_by("scheduled_on", "pk")[: limit + 1]
    )
    latest_due_on = MaintenanceVisit.objects.filter(installation=OuterRef("pk")).order_by("-visited_on", "-pk")
    systems = (
        Installation.objects.filter(technician=user, application__status__in=[Status.ACTIVE, Status.NEEDS_MAINTENANCE])
        .annotate(last_due_on=Subquery(latest_due_on.values("next_due_on")[:1]))
        .select_related("application", "dwelling__colonia__alcaldia")
    )
    # Two queries rather than one ordered by COALESCE(last_due_on, installed_on + 182 days): date
    # arithmetic is not portable between SQLite and PostgreSQL, and each half is already in due order.
    maintained = systems.filter(last_due_on__lte=horizon).order_by("last_due_on", "pk")[: limit + 1]
    never_maintained = systems.filter(last_due_on=None, installed_on__lte=horizon - FIRST_MAINTENANCE_AFTER).order_by(
        "installed_on", "pk"
    )[: limit + 1]

    items = [_worklist_item("technical_visit", visit.pk, visit.scheduled_on, visit.application, today) for visit in visits]
    items += [
        _worklist_item(
            "maintenance",
            system.pk,
            system.last_due_on or system.installed_on + FIRST_MAINTENANCE_AFTER,
            system.application,
            today,
            dwelling=system.dwelling,
        )
        for system in [*maintained, *never_maintained]
    ]
    if include_installations:
        scheduled = (
            Application.objects.filter(Application.objects.assigned_to(user))
            .filter(status=Status.INSTALLATION_SCHEDULED, installation__isnull=True)
            .select_related("dwelling__colonia__alcaldia")
            .order_by("status_changed_at", "pk")[: limit + 1]
        )
        items += [
            replace(
                _worklist_item(
                    "installation",
                    application.pk,
                    timezone.localdate(application.status_changed_at) if application.status_changed_at else today,
                    application,
                    today,
                ),
                overdue=False,
            )
            for application in scheduled
        ]
    items.sort(key=lambda item: (item.due_on, item.kind, item.id))
    return Worklist(items=items[:limit], truncated=len(items) > limit)


def worklist_nearest(
    *,
    user: User,
    origin: tuple[float, float] | None,
    today: date | None = None,
    limit: int = WORKLIST_LIMIT,
    include_installations: bool = True,
) -> Worklist:
    """The worklist (with installations by default), nearest first from ``origin`` (latitude, longitude).

    The same items as ``worklist``, so the cap still keeps the soonest due; only their order changes.
    Homes with a known position come nearest first, each with its ``distance_km``; homes without one
    follow in due order. Without an origin it is the plain worklist, soonest first.
    """
    work = worklist(user=user, today=today, limit=limit, include_installations=include_installations)
    if origin is None:
        return work
    measured = [
        replace(item, distance_km=distance_km(origin, item.dwelling.latitude, item.dwelling.longitude)) for item in work.items
    ]
    # sorted() is stable: equal distances and the homes without a position keep the due order.
    measured.sort(key=lambda item: (item.distance_km is None, item.distance_km or 0.0))
    return Worklist(items=measured, truncated=work.truncated, by_distance=True)


def distance_km(origin: tuple[float, float], latitude: Decimal | None, longitude: Decimal | None) -> float | None:
    """Great-circle (haversine) distance from ``origin`` to a position; None when there is no position."""
    if latitude is None or longitude is None:
        return None
    lat1, lng1 = map(math.radians, origin)
    lat2, lng2 = math.radians(float(latitude)), math.radians(float(longitude))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _worklist_item(
    kind: str, pk: int, due_on: date, application: Application, today: date, *, dwelling: Dwelling | None = None
) -> WorklistItem:
    return WorklistItem(
        kind=kind,
        id=pk,
        due_on=due_on,
        overdue=due_on < today,
        application_id=application.pk,
        folio=application.folio,
        dwelling=dwelling or application.dwelling,
    )


# --- Counts and the harvest estimate ----------------------------------------------------------------
def reference_counts() -> dict[str, int]:
    return {
        "alcaldias": Alcaldia.objects.count(),
        "program_years": ProgramYear.objects.count(),
        "applications": Application.objects.count(),
    }


def harvest_litres_per_year(*, rainfall_mm: Decimal, roof_area_m2: Decimal, runoff_coefficient: Decimal) -> int:
    """V (L) = P (mm) × A (m², horizontal projection) × Ce, since 1 mm on 1 m² is 1 L (brief §4.3)."""
    litres = Decimal(rainfall_mm) * Decimal(roof_area_m2) * Decimal(runoff_coefficient)
    return int(litres.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class HarvestEstimate:
    """A dwelling's yearly harvest and the parameters it came from; litres is None for unsuitable roofs."""

    litres_per_year: int | None
    water_trucks_per_year: Decimal | None
    rainfall_mm: Decimal | None
    runoff_coefficient: Decimal | None
    roof_suitable: bool
    rainfall_source: str
    coefficient_source: str


def rainfall_for(alcaldia_id: str) -> RainfallReference | None:
    """The alcaldía's own rainfall figure, or the city-wide reference where it has none."""
    references = {r.alcaldia_id: r for r in RainfallReference.objects.filter(alcaldia_id__in=[alcaldia_id, None])}
    if alcaldia_id in references:
        return references[alcaldia_id]
    return RainfallReference.objects.filter(alcaldia=None).first()


def dwelling_harvest_estimate(*, dwelling: Dwelling) -> HarvestEstimate:
    coefficient = RoofCoefficient.objects.filter(material=dwelling.roof_material).first()
    rainfall = rainfall_for(dwelling.colonia.alcaldia_id)
    suitable = coefficient is not None and coefficient.suitable
    if not suitable or rainfall is None or coefficient is None or coefficient.runoff_coefficient is None:
        return HarvestEstimate(
            litres_per_year=None,
            water_trucks_per_year=None,
            rainfall_mm=rainfall.annual_mm if rainfall else None,
            runoff_coefficient=None,
            roof_suitable=suitable,
            rainfall_source=rainfall.source if rainfall else "",
            coefficient_source=coefficient.source if coefficient else "",
        )
    litres = harvest_litres_per_year(
        rainfall_mm=rainfall.annual_mm, roof_area_m2=dwelling.roof_area_m2, runoff_coefficient=coefficient.runoff_coefficient
    )
    return HarvestEstimate(
        litres_per_year=litres,
        water_trucks_per_year=(Decimal(litres) / WATER_TRUCK_LITRES).quantize(Decimal("0.1")),
        rainfall_mm=rainfall.annual_mm,
        runoff_coefficient=coefficient.runoff_coefficient,
        roof_suitable=True,
        rainfall_source=rainfall.source,
        coefficient_source=coefficient.source,
    )
