"""The legacy spreadsheet's contract: its columns, a row once cleaned, an error, and the report.

The reading side (``legacy/reading.py``) turns a file into ``CleanRow`` objects or ``RowError``
lists; the writing side (``legacy/services.py``) stores clean rows. Both speak only these types.
Row numbers are the ones the office sees in its spreadsheet: the header is row 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

# (column, required, description): the order of the template and of every export.
COLUMNS: list[tuple[str, bool, Any]] = [
    ("folio_legado", True, _("Folio del registro en la hoja de la oficina; la clave que une re-importaciones.")),
    ("anio_programa", True, _("Año del programa (2019 en adelante).")),
    ("nombre", True, _("Nombre(s) de la persona solicitante.")),
    ("primer_apellido", True, _("Primer apellido.")),
    ("segundo_apellido", False, _("Segundo apellido.")),
    ("curp", True, _("CURP de 18 caracteres con dígito verificador válido.")),
    ("sexo", True, _("H, M, Hombre, Mujer o F.")),
    ("jefa_de_hogar", False, _("Hogar con jefatura femenina: Sí/Si/No/1/0/X.")),
    ("telefono", False, _("Teléfono de 10 dígitos.")),
    ("calle_numero", True, _("Calle y número de la vivienda.")),
    ("colonia", True, _("Nombre de la colonia; debe existir en la alcaldía indicada.")),
    ("alcaldia", True, _("Nombre (con o sin acentos, formas cortas como GAM) o clave INEGI (09007 o 7).")),
    ("codigo_postal", False, _("Código postal de 5 dígitos.")),
    ("latitud", False, _("Latitud dentro de la Ciudad de México; coma o punto decimal.")),
    ("longitud", False, _("Longitud dentro de la Ciudad de México; coma o punto decimal.")),
    ("material_techo", True, _("Material del techo (concreto, lámina metálica, lámina plástica, fibrocemento…).")),
    ("superficie_techo_m2", True, _("Superficie horizontal del techo en m², mayor que cero.")),
    ("capacidad_tanque_l", True, _("Capacidad del tanque en litros, mayor que cero.")),
    ("fecha_instalacion", True, _("DD/MM/AAAA, AAAA-MM-DD o número de fecha de Excel.")),
    ("instaladora", False, _("Nombre de la empresa instaladora.")),
    ("modalidad", True, _("Subsidio total o subsidio parcial (total/parcial).")),
]
COLUMN_NAMES = [name for name, _required, _description in COLUMNS]
REQUIRED_COLUMNS = [name for name, required, _description in COLUMNS if required]


@dataclass(frozen=True)
class CleanRow:
    """One spreadsheet row, normalised and checked against the reference data; ready to store."""

    line: int
    legacy_folio: str
    program_year: int
    first_name: str
    first_surname: str
    second_surname: str
    curp: str
    sex: str  # an ApplicantSex value
    birth_date: date  # read from the CURP
    woman_headed_household: bool
    phone: str
    street_address: str
    colonia_id: int
    alcaldia_id: str
    postal_code: str
    latitude: Decimal | None
    longitude: Decimal | None
    roof_material: str  # a RoofMaterial value
    roof_area_m2: Decimal
    tank_capacity_litres: int
    installed_on: date
    installer_name: str  # "" when not given
    modality: str  # a Modality value


@dataclass(frozen=True)
class RowError:
    line: int  # 0 for the file as a whole (its header, its size, its type)
    column: str  # "" when the error is about the whole row or file
    message: str  # Spanish, for the office

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.line, "column": self.column, "message": str(self.message)}


@dataclass
class ImportReport:
    """What a run found and did. ``errors`` empty ⇔ the file is acceptable (and, on a real run, stored)."""

    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rejected_rows(self) -> int:
        """Rows with at least one error (errors about the file as a whole name no row)."""
        return len({e.line for e in self.errors if e.line})

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["errors"] = [error.as_dict() for error in self.errors]
        body["ok"] = self.ok
        body["rejected_rows"] = self.rejected_rows
        return body


# --- Formula escaping (reliability.md D1) -------------------------------------------------------------
# Harvest's exports put ESCAPE_PREFIX before a cell starting with any of these (the prefix included,
# so that undoing it is exact); the import undoes it, so an exported sheet can be imported again.
DANGEROUS_FIRST_CHARACTERS = frozenset("=+-@\t\r\0")
ESCAPE_PREFIX = "'"
ESCAPED_FIRST_CHARACTERS = DANGEROUS_FIRST_CHARACTERS | {ESCAPE_PREFIX}


def unescape_cell(text: str) -> str:
    """The stored text of a cell Harvest's export escaped; any other text as it is (an apostrophe the
    office typed before a plain letter stays)."""
    if text[:1] == ESCAPE_PREFIX and text[1:2] in ESCAPED_FIRST_CHARACTERS:
        return text[1:]
    return text
