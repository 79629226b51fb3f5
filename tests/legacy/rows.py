"""Clean rows built directly (as the reading side would give them), for the writing side's tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from installations.identifiers import curp_birth_date
from installations.models import Colonia
from legacy.rows import CleanRow
from tests.factories import make_curp


def clean_row(n: int, colonia: Colonia, **changes: Any) -> CleanRow:
    """Row ``n`` of a sheet (spreadsheet line n + 1, under the header), a different household for every n."""
    curp = changes.pop("curp", None) or make_curp(10_000 + n)
    row = CleanRow(
        line=n + 1,
        legacy_folio=f"LEG-{n:06d}",
        program_year=2019 + n % 5,
        first_name="María",
        first_surname="Hernández",
        second_surname="López",
        curp=curp,
        sex="M",
        birth_date=curp_birth_date(curp),
        woman_headed_household=n % 3 != 0,
        phone="55" + f"{n:08d}",
        street_address=f"Calle Tláloc {n}",
        colonia_id=colonia.pk,
        alcaldia_id=colonia.alcaldia_id,
        postal_code="12000",
        latitude=Decimal("19.191000"),
        longitude=Decimal("-99.023000"),
        roof_material="concreto",
        roof_area_m2=Decimal("40.00"),
        tank_capacity_litres=2500,
        installed_on=date(2019 + n % 5, 6, 1 + n % 28),
        installer_name=["Instaladora Tláloc", "Cooperativa Mujeres del Agua", ""][n % 3],
        modality="total_subsidy",
    )
    return replace(row, **changes)


def clean_rows(count: int, colonias: list[Colonia], start: int = 0) -> list[CleanRow]:
    return [clean_row(n, colonias[n % len(colonias)]) for n in range(start, start + count)]
