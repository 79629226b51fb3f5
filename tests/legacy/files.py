"""Spreadsheets to test the legacy import with: CSV and XLSX builders, a valid row, and hostile zips.

``write_xlsx`` saves through openpyxl, as a person's tool would (openpyxl writes inline strings);
``write_raw_xlsx`` writes the parts by hand, as Excel does (shared strings, date styles), with the
features openpyxl cannot produce: rich text, phonetic runs, a 1904 date system, missing cell
references, a DTD. ``big_rows`` makes the program's size (62,700 rows) quickly.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from legacy.reading import Lookups
from legacy.rows import COLUMN_NAMES
from tests.factories import make_curp

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TODAY = date(2024, 6, 1)
HEADER = list(COLUMN_NAMES)

# (id, cvegeo, name): a few real-looking colonias, one name written twice in one alcaldía.
COLONIAS = [
    (1, "09012", "Tlalpan Centro"),
    (2, "09012", "Pedregal de San Nicolás 1a Sección"),
    (3, "09009", "Villa Milpa Alta (Pblo)"),
    (4, "09007", "Santa Cruz Meyehualco"),
    (5, "09005", "Cuautepec de Madero"),
    (6, "09008", "San Jerónimo Lídice"),
    (7, "09004", "San Mateo Tlaltenango"),
    (8, "09007", "San Miguel Teotongo"),
    (9, "09007", "SAN MIGUEL TEOTONGO"),
    (10, "09011", "San Francisco Tlaltenco"),
]


def alcaldia_rows() -> list[tuple[str, str, list[str]]]:
    """The 16 alcaldías as fixtures/alcaldias.json has them: (cvegeo, name, short names)."""
    entries = json.loads((FIXTURES / "alcaldias.json").read_text(encoding="utf-8"))
    return [(entry["pk"], entry["fields"]["name"], entry["fields"]["short_names"]) for entry in entries]


def lookups(today: date = TODAY, colonias: Sequence[tuple[int, str, str]] = COLONIAS) -> Lookups:
    """Reference data in memory: the real alcaldías, the colonias above, the program years 2019–2025."""
    return Lookups.build(alcaldias=alcaldia_rows(), colonias=list(colonias), program_years=list(range(2019, 2026)), today=today)


def row(n: int = 1, **overrides: str) -> dict[str, str]:
    """A valid row (as the office writes it) for the n-th household; keyword arguments replace cells."""
    values = {
        "folio_legado": f"SCALL-2021-{n:05d}",
        "anio_programa": "2021",
        "nombre": "María Guadalupe",
        "primer_apellido": "Hernández",
        "segundo_apellido": "López",
        "curp": make_curp(n, "M"),
        "sexo": "Mujer",
        "jefa_de_hogar": "Sí",
        "telefono": "55 1234 5678",
        "calle_numero": f"Calle Tláloc {n}",
        "colonia": "Tlalpan Centro",
        "alcaldia": "Tlalpan",
        "codigo_postal": "14000",
        "latitud": "19,2905",
        "longitud": "-99.1672",
        "material_techo": "Losa de concreto",
        "superficie_techo_m2": "40,5",
        "capacidad_tanque_l": "2500",
        "fecha_instalacion": "15/05/2021",
        "instaladora": "Isla Urbana",
        "modalidad": "Subsidio total",
    }
    values.update(overrides)
    return values


def as_lists(rows: Iterable[Mapping[str, object] | Sequence[object]], header: Sequence[str]) -> list[list[object]]:
    """Rows by column name become lists in the header's order (a header not in the row gets "")."""
    return [[item.get(name, "") for name in header] if isinstance(item, Mapping) else list(item) for item in rows]


def write_csv(
    path: Path,
    rows: Iterable[Mapping[str, object] | Sequence[object]],
    *,
    header: Sequence[str] | None = HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    """A CSV file as a spreadsheet exports it (``encoding="utf-8-sig"`` adds a BOM, as Excel's «CSV UTF-8»)."""
    with open(path, "w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        if header is not None:
            writer.writerow(header)
        writer.writerows(as_lists(rows, header or []))
    return path


def write_xlsx(
    path: Path, rows: Iterable[Mapping[str, object] | Sequence[object]], *, header: Sequence[str] | None = HEADER
) -> Path:
    """An XLSX saved by openpyxl: the header and rows on the first sheet (None leaves a cell empty)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Padrón")
    if header is not None:
        sheet.append(list(header))
    for values in as_lists(rows, header or []):
        sheet.append(values)
    workbook.save(path)
    return path


# --- XLSX written by hand -------------------------------------------------------------------------------------
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
# Style 0: general; style 1: a date (built-in format 14, d/m/yyyy); style 2: a custom "dd/mm/yyyy".
STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy;@"/></numFmts>
<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs>
</styleSheet>"""


class Formula:
    """A formula cell with the value Excel saved with it (``cached=None``: never calculated)."""

    def __init__(self, formula: str, cached: object = None) -> None:
        self.formula, self.cached = formula, cached


class Raw:
    """A cell written exactly as given: ``<c r=… t=…>inner</c>`` (``t=None`` leaves the type out)."""

    def __init__(self, inner: str, cell_type: str | None = None, style: int | None = None) -> None:
        self.inner, self.cell_type, self.style = inner, cell_type, style


def column_letter(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _cell(reference: str | None, value: object, strings: dict[str, int], shared: bool) -> str:
    where = f' r="{reference}"' if reference else ""
    if value is None or value == "":
        return ""
    if isinstance(value, Raw):
        kind = f' t="{value.cell_type}"' if value.cell_type else ""
        style = f' s="{value.style}"' if value.style is not None else ""
        return f"<c{where}{kind}{style}>{value.inner}</c>"
    if isinstance(value, Formula):
        cached = "" if value.cached is None else f"<v>{escape(str(value.cached))}</v>"
        kind = ' t="str"' if isinstance(value.cached, str) else ""
        return f"<c{where}{kind}><f>{escape(value.formula)}</f>{cached}</c>"
    if isinstance(value, bool):
        return f'<c{where} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, date):
        return f'<c{where} s="1"><v>{(value - date(1899, 12, 30)).days}</v></c>'
    if isinstance(value, int | float | Decimal):
        return f"<c{where}><v>{value}</v></c>"
    if shared:
        index = strings.setdefault(str(value), len(strings))
        return f'<c{where} t="s"><v>{index}</v></c>'
    return f'<c{where} t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def sheet_xml(
    rows: Iterable[tuple[int, Sequence[object]]],
    strings: dict[str, int],
    *,
    shared: bool = True,
    references: bool = True,
    dimension: str | None = None,
) -> Iterator[str]:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    yield f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">{declared}<sheetData>'
    for number, values in rows:
        cells = "".join(
            _cell(f"{column_letter(position)}{number}" if references else None, value, strings, shared)
            for position, value in enumerate(values)
        )
        yield f'<row r="{number}">{cells}</row>' if references else f"<row>{cells}</row>"
    yield "</sheetData></worksheet>"


def shared_strings_xml(strings: dict[str, int], *, rich: Mapping[str, str] | None = None) -> str:
    """The shared strings part; ``rich`` gives some strings' own XML (rich text runs, phonetic runs)."""
    items = []
    for value, _index in sorted(strings.items(), key=lambda pair: pair[1]):
        items.append((rich or {}).get(value) or f'<si><t xml:space="preserve">{escape(value)}</t></si>')
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    return f'{declaration}\n<sst xmlns="{MAIN}" count="{len(items)}">{"".join(items)}</sst>'


def write_raw_xlsx(
    path: Path,
    rows: Iterable[Sequence[object]] | Iterable[tuple[int, Sequence[object]]],
    *,
    header: Sequence[str] | None = HEADER,
    numbered: bool = False,
    shared: bool = True,
    references: bool = True,
    date1904: bool = False,
    rich: Mapping[str, str] | None = None,
    sheet_prefix: str = "",
    extra_parts: Mapping[str, bytes] | None = None,
    dimension: str | None = None,
) -> Path:
    """An XLSX written part by part, like Excel: shared strings, a date style, the header in row 1.

    ``numbered=True`` takes rows as (row number, values) to leave gaps; ``sheet_prefix`` goes before
    ``<worksheet>`` (e.g. a DOCTYPE); ``extra_parts`` adds or replaces parts of the zip; ``dimension``
    is the sheet's declared range, as Excel writes it (``A1:U62701``).
    """
    strings: dict[str, int] = {}
    if numbered:
        numbered_rows = list(rows)
    else:
        numbered_rows = list(enumerate(as_lists(rows, header or []), start=2 if header is not None else 1))
    if header is not None:
        numbered_rows.insert(0, (1, list(header)))
    sheet = "".join(sheet_xml(numbered_rows, strings, shared=shared, references=references, dimension=dimension))
    if sheet_prefix:
        declaration, _newline, body = sheet.partition("\n")
        sheet = f"{declaration}\n{sheet_prefix}{body}"
    workbook_pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE}">'
            f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">{workbook_pr}'
            '<sheets><sheet name="Padrón" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PACKAGE}">'
            f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId4" Type="{RELATIONSHIPS}/hyperlink" '
            'Target="http://169.254.169.254/latest/meta-data/" TargetMode="External"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": STYLES,
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": shared_strings_xml(strings, rich=rich),
    }
    for name, content in (extra_parts or {}).items():
        parts[name] = content
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


# --- Hostile files ----------------------------------------------------------------------------------------------
def zip_bomb(path: Path, *, unpacked_mb: int = 60) -> Path:
    """An "XLSX" whose sheet is ``unpacked_mb`` MB of zeros: about 1,000 to 1 once compressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}"/>')
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"0" * (1024 * 1024)
            for _ in range(unpacked_mb):
                member.write(block)
    return path


def many_parts_xlsx(path: Path, parts: int = 1_001) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}"/>')
        for number in range(parts - 2):
            archive.writestr(f"xl/media/image{number}.xml", f"<x>{number}</x>")
    return path


# --- The program's size ---------------------------------------------------------------------------------------------
def big_colonias(per_alcaldia: int = 200) -> list[tuple[int, str, str]]:
    """``per_alcaldia`` colonias in each of the nine alcaldías of 2019–2023."""
    codes = ["09002", "09003", "09005", "09007", "09008", "09009", "09011", "09012", "09013"]
    return [
        (index * 1000 + n, code, f"Colonia {code[-2:]}-{n:03d}") for index, code in enumerate(codes) for n in range(per_alcaldia)
    ]


def big_rows(count: int = 62_700, colonias: Sequence[tuple[int, str, str]] | None = None) -> Iterator[list[object]]:
    """``count`` valid, distinct rows spread over the colonias and the years 2019–2023, in HEADER order."""
    colonias = colonias or big_colonias()
    names = {"09002": "Azcapotzalco", "09003": "Coyoacán", "09005": "GAM", "09007": "Iztapalapa", "09008": "Magdalena Contreras"}
    names |= {"09009": "Milpa Alta", "09011": "Tláhuac", "09012": "Tlalpan", "09013": "Xochimilco"}
    first_names = ["María", "José Luis", "Guadalupe", "Juana", "Francisco", "Verónica", "Rosa María", "Alejandro"]
    for n in range(count):
        sex = "M" if n % 3 else "H"
        _pk, code, colonia = colonias[n % len(colonias)]
        year = 2019 + n % 5
        installed = date(year, 3, 1) + timedelta(days=n % 240)
        yield [
            f"SCALL-{year}-{n:06d}",
            str(year),
            first_names[n % len(first_names)],
            "Hernández",
            "García" if n % 4 else "",
            make_curp(n, sex),
            "Mujer" if sex == "M" else "Hombre",
            "Sí" if n % 2 else "No",
            f"55{n:08d}"[:10],
            f"Calle {n % 97} número {n}",
            colonia,
            names[code] if n % 2 else code,
            f"{14000 + n % 500:05d}",
            f"19.{200000 + n % 300000:06d}",
            f"-99.{1000 + n % 36000:05d}",
            ["Losa de concreto", "concreto", "Lámina metálica", "fibrocemento"][n % 4],
            f"{30 + n % 70},{n % 10}",
            ["2500", "1100", "5000"][n % 3],
            installed.strftime("%d/%m/%Y") if n % 2 else installed.isoformat(),
            "Isla Urbana" if n % 2 else "",
            "Subsidio total" if n % 5 else "parcial",
        ]
