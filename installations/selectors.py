"""Reads: scoped querysets and the harvest estimate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet

from installations.models import Alcaldia, Application, Dwelling, ProgramYear, RainfallReference, RoofCoefficient, User

# One pipa (water truck) carries 10,000 L (brief §4.4).
WATER_TRUCK_LITRES = 10_000


def application_queryset(*, user: User) -> QuerySet[Application]:
    """The requests a member of staff may see, with what a list shows."""
    return (
        Application.objects.visible_to(user)
        .select_related("applicant", "dwelling__colonia__alcaldia", "program_year", "assigned_technician")
        .order_by("-created_at")
    )


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
