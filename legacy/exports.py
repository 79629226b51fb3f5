"""Exports of program records: the legacy spreadsheet's columns out of Harvest, masked, escaped and logged.

An export reads plain values (``values_list`` over the joins it needs, no model instance and no query
per row), masks personal data unless the caller may and says why (reliability.md D2), leaves out
blocked households (G10), writes CSV or XLSX with every text cell escaped against formula injection
(D1) and records exactly one ``ExportLog`` row (D3). The public padrón carries only the fields a
published padrón may show (H4).

- Columns: the legacy template's (``legacy.rows.COLUMNS``), in its order and its words (Sí/No,
  total/parcial, «lámina metálica»…), so that a full export can go back in through the import once
  the import reads each text cell through ``legacy.rows.unescape_cell``. Masked exports leave out ``calle_numero``,
  ``latitud`` and ``longitud``: the street address and the point that locates it.
- Escaping: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab, CR or NUL gets a leading
  ``'``; so does one that already starts with ``'``, which makes ``unescape_cell`` an exact inverse.
  In CSV every cell is text, so a negative longitude is written ``'-99.1``. In XLSX numbers are
  numeric cells, which cannot hold a formula; text cells are escaped as in CSV.
- XLSX is written directly as SpreadsheetML (one sheet, inline strings) rather than through
  openpyxl: openpyxl's write-only mode needed about 15 s for the program's 62,700 systems.
- Large exports (D4): more rows than ``HARVEST_EXPORT_SYNC_MAX_ROWS`` (10,000) are not built during
  the request. ``export_request`` keeps the filters as asked on a ``Job`` and queues it through the
  outbox; ``export_job_run`` (the worker) applies them again in the user's scope, writes the file
  with the same functions into private storage (``exports_dir``, named after the job's id, mode
  0600) and logs it, once. ``export_download`` gives the file to the user who asked for it only,
  for 24 hours after it was built; ``export_files_purge`` (beat, hourly) deletes what has expired.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import QueryDict
from django.utils import timezone

from api.permissions import is_manager
from api.serializers import mask_curp
from audit.context import audit_context, audit_context_current
from installations.identifiers import folio_display
from installations.models import Application, Installation, Modality, User
from legacy.models import ExportChannel, ExportFormat, ExportKind, ExportLog
from legacy.reading import column_letter
from legacy.rows import COLUMN_NAMES, ESCAPE_PREFIX, ESCAPED_FIRST_CHARACTERS
from worker.jobs import job_create, job_enqueue, job_fail, job_start, job_succeed
from worker.models import ACTIVE_JOB_STATES, Job, JobKind, JobState

logger = logging.getLogger(__name__)

FULL_PERSONAL_DATA_PERMISSION = "legacy.export_full_pii"
# A typed reason, not a click: the shortest justification accepted for full personal data.
JUSTIFICATION_MIN_LENGTH = 10

# --- Formula injection (reliability.md D1) ----------------------------------------------------------


def full_personal_data_allowed(user: Any, justification: str) -> bool:
    """Whether ``user`` may export full personal data with this justification (D2: the permission and
    at least ``JUSTIFICATION_MIN_LENGTH`` characters of reason)."""
    return user.has_perm(FULL_PERSONAL_DATA_PERMISSION) and len(justification.strip()) >= JUSTIFICATION_MIN_LENGTH


def export_filename(kind: str, extension: str, day: date) -> str:
    """An export's file name: its kind and the day it was built (``instalaciones-2026-11-27.csv``)."""
    return f"{FILE_NAMES[kind]}-{day:%Y-%m-%d}.{extension}"


def escape_cell(value: object) -> str:
    """The cell's text, with a leading ``'`` if a spreadsheet could read it as a formula.

    A text already starting with ``'`` is escaped too, so that ``unescape_cell`` gives back exactly
    what was stored: ``'abc`` is written ``''abc``.
    """
    text = "" if value is None else str(value)
    if text and text[0] in ESCAPED_FIRST_CHARACTERS:
        return ESCAPE_PREFIX + text
    return text


# --- Masking (reliability.md D2) ----------------------------------------------------------------------
def mask_phone(phone: str) -> str:
    """The last four digits, the other digits starred; anything that is not a digit is dropped."""
    digits = phone if phone.isdigit() else "".join(filter(str.isdigit, phone))
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


# Columns of a masked export that are left out altogether: the street address and the point that locates it.
ADDRESS_COLUMNS = ("calle_numero", "latitud", "longitud")
MASKED_COLUMN_NAMES = [name for name in COLUMN_NAMES if name not in ADDRESS_COLUMNS]


def export_columns(*, full_personal_data: bool) -> list[str]:
    return list(COLUMN_NAMES) if full_personal_data else list(MASKED_COLUMN_NAMES)


# --- Rows in the legacy template's columns ---------------------------------------------------------------
# The spreadsheet's words for what Harvest stores as codes (legacy/rows.py describes each column).
YES_NO = {True: "Sí", False: "No"}
MODALITY_TEXT = {Modality.TOTAL_SUBSIDY: "total", Modality.PARTIAL_SUBSIDY: "parcial"}
ROOF_MATERIAL_TEXT = {
    "concreto": "concreto",
    "lamina_metalica": "lámina metálica",
    "lamina_plastica": "lámina plástica",
    "fibrocemento": "fibrocemento",
    "asbesto": "asbesto",
    "carton": "lámina de cartón",
    "otro": "otro",
}


# column → (the field it is read from, through which record; how its value becomes the cell, if it changes).
# Records: "application", "applicant", "dwelling" and "installation" are reached per kind (_PREFIXES).
_COLUMN_SOURCES: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "folio_legado": ("application:legacy_folio", None),  # or the Harvest folio: see export_rows
    "anio_programa": ("application:program_year_id", None),
    "nombre": ("applicant:first_name", None),
    "primer_apellido": ("applicant:first_surname", None),
    "segundo_apellido": ("applicant:second_surname", None),
    "curp": ("applicant:curp", None),
    "sexo": ("applicant:sex", None),
    "jefa_de_hogar": ("applicant:woman_headed_household", YES_NO.__getitem__),
    "telefono": ("applicant:phone", None),
    "calle_numero": ("dwelling:street_address", None),
    "colonia": ("dwelling:colonia__name", None),
    "alcaldia": ("dwelling:colonia__alcaldia__name", None),
    "codigo_postal": ("dwelling:postal_code", None),
    "latitud": ("dwelling:latitude", None),
    "longitud": ("dwelling:longitude", None),
    "material_techo": ("dwelling:roof_material", lambda code: ROOF_MATERIAL_TEXT.get(code, code)),
    "superficie_techo_m2": ("dwelling:roof_area_m2", None),
    "capacidad_tanque_l": ("installation:tank_capacity_litres", None),
    "fecha_instalacion": ("installation:installed_on", None),
    "instaladora": ("installation:installer__name", lambda name: name or ""),
    "modalidad": ("application:modality", lambda code: MODALITY_TEXT.get(code, code)),
}
_MASKS: dict[str, Callable[[str], str]] = {
    "curp": lambda curp: mask_curp(curp or ""),
    "telefono": lambda phone: mask_phone(phone or ""),
}

# How each exported model reaches the records a row is made of.
_PREFIXES: dict[str, dict[str, str]] = {
    ExportKind.INSTALLATIONS: {
        "application": "application__",
        "applicant": "application__applicant__",
        "dwelling": "dwelling__",
        "installation": "",
    },
    ExportKind.APPLICATIONS: {
        "application": "",
        "applicant": "applicant__",
        "dwelling": "dwelling__",
        "installation": "installation__",  # LEFT JOIN: a request without a system has these cells empty
    },
}
_MODELS: dict[str, type[Model]] = {ExportKind.INSTALLATIONS: Installation, ExportKind.APPLICATIONS: Application}


def _lookup(kind: str, source: str) -> str:
    record, field = source.split(":")
    return _PREFIXES[kind][record] + field


def _exportable(queryset: QuerySet[Any], *, kind: str) -> QuerySet[Any]:
    """The records of ``queryset`` an export carries: blocked households are left out (G10)."""
    return queryset.filter(**{_lookup(kind, "applicant:blocked_at"): None})


def export_rows(
    queryset: QuerySet[Application] | QuerySet[Installation], *, kind: str, full_personal_data: bool
) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and the rows of ``queryset`` in the legacy template's columns, blocked households left out.

    ``queryset`` is already scoped to the caller and filtered; this reads it as plain values, ordered
    by key, in one query. Cells are Python values (text, whole numbers, decimals, dates, None), not
    yet escaped: the writers escape. Without ``full_personal_data`` the CURP and the phone come masked
    and the address columns are left out (and never read). ``folio_legado`` is the request's legacy
    folio, or its Harvest folio (as printed) for a request registered in Harvest.
    """
    if queryset.model is not _MODELS.get(kind):
        raise ValueError(f"an export of {kind} needs a queryset of {_MODELS.get(kind)}, not of {queryset.model}")
    columns = export_columns(full_personal_data=full_personal_data)
    lookups = [_lookup(kind, _COLUMN_SOURCES[name][0]) for name in columns]
    changes: list[tuple[int, Callable[[Any], Any]]] = []
    for index, name in enumerate(columns):
        convert = _MASKS.get(name) if not full_personal_data else None
        convert = convert or _COLUMN_SOURCES[name][1]
        if convert is not None:
            changes.append((index, convert))
    folio = columns.index("folio_legado")
    values = (
        _exportable(queryset, kind=kind)
        .order_by("pk")
        .values_list(*lookups, _lookup(kind, "application:folio"))
        .iterator(chunk_size=2000)
    )

    def rows() -> Iterator[list[Any]]:
        # Most cells pass as read; only the few columns that change are touched (this runs 62,700 times).
        for record in values:
            row = list(record)
            harvest_folio = row.pop()
            if not row[folio]:
                row[folio] = folio_display(harvest_folio)
            for index, convert in changes:
                row[index] = convert(row[index])
            yield row

    return columns, rows()


# --- The public padrón (reliability.md H4) -------------------------------------------------------------------
PADRON_COLUMNS = ["nombre", "alcaldia", "colonia", "sexo", "edad", "beneficio"]
SEX_TEXT = {"M": "Mujer", "H": "Hombre", "X": "No binario"}
BENEFIT_TEXT = {
    Modality.TOTAL_SUBSIDY: "Sistema de captación de agua de lluvia — subsidio total",
    Modality.PARTIAL_SUBSIDY: "Sistema de captación de agua de lluvia — subsidio parcial",
}


def age_on(birth_date: date, day: date) -> int:
    """Whole years lived on ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def padron_systems(program_year: int | None = None, *, user: User | None = None) -> QuerySet[Installation]:
    """The installed systems whose people the padrón lists (see ``padron_rows``), unordered."""
    systems = Installation.objects.visible_to(user) if user is not None else Installation.objects.all()
    systems = systems.filter(application__applicant__blocked_at=None)
    if program_year is not None:
        systems = systems.filter(application__program_year_id=program_year)
    return systems


def padron_rows(
    program_year: int | None = None, *, user: User | None = None, today: date | None = None
) -> tuple[list[str], Iterator[list[Any]]]:
    """The beneficiaries: people whose request has an installed system, blocked households left out.

    Only the published fields: full name, alcaldía, colonia, sex, age on ``today`` and the benefit;
    never CURP, phone, address or coordinates. With ``user`` the rows are those the user may see (a
    coordinator's alcaldías); without it, the whole city. One query, ordered by place and name.
    """
    today = today or timezone.localdate()
    values = (
        padron_systems(program_year, user=user)
        .order_by(
            "dwelling__colonia__alcaldia__name",
            "dwelling__colonia__name",
            "application__applicant__first_surname",
            "application__applicant__second_surname",
            "application__applicant__first_name",
            "pk",
        )
        .values_list(
            "application__applicant__first_name",
            "application__applicant__first_surname",
            "application__applicant__second_surname",
            "dwelling__colonia__alcaldia__name",
            "dwelling__colonia__name",
            "application__applicant__sex",
            "application__applicant__birth_date",
            "application__modality",
        )
        .iterator(chunk_size=2000)
    )
    return list(PADRON_COLUMNS), (
        [
            " ".join(part for part in (first_name, first_surname, second_surname) if part),
            alcaldia,
            colonia,
            SEX_TEXT.get(sex, sex),
            age_on(birth_date, today),
            BENEFIT_TEXT.get(modality, modality),
        ]
        for first_name, first_surname, second_surname, alcaldia, colonia, sex, birth_date, modality in values
    )


# --- Writers -------------------------------------------------------------------------------------------------
def csv_cell(value: Any) -> str:
    """A value as text in a file: dates in ISO, decimals without exponent, escaped (D1)."""
    if value is None:
        return ""
    if isinstance(value, date):
        return escape_cell(value.isoformat())
    if isinstance(value, Decimal):
        return escape_cell(format(value, "f"))
    return escape_cell(value)


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], stream: IO[bytes]) -> int:
    """RFC 4180 CSV in UTF-8 with a byte-order mark (so Excel reads the accents), every cell escaped.

    Returns the number of data rows written.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", write_through=False)
    try:
        writer = csv.writer(text)
        writer.writerow([csv_cell(name) for name in columns])
        count = 0
        escaped = ESCAPED_FIRST_CHARACTERS
        for row in rows:
            # Plain text that needs no escaping (most cells) passes without a call.
            writer.writerow(
                [value if type(value) is str and not (value and value[0] in escaped) else csv_cell(value) for value in row]
            )
            count += 1
        text.flush()
    finally:
        text.detach()  # the caller's stream stays open
    return count


# XML 1.0 cannot carry most C0 controls, U+FFFE, U+FFFF or lone surrogates: they become U+FFFD, as
# django-import-export does for XLSX. CR is kept as a character reference (a parser would turn a raw
# CR into LF); tab and LF pass as they are.
_XML_TEXT = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#13;"}
_XML_TEXT.update(dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], "\N{REPLACEMENT CHARACTER}"))
_XML_TEXT.update(dict.fromkeys([*range(0xD800, 0xE000), 0xFFFE, 0xFFFF], "\N{REPLACEMENT CHARACTER}"))
_NEEDS_XML_ESCAPE = re.compile("[&<>\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return text.translate(_XML_TEXT) if _NEEDS_XML_ESCAPE.search(text) else text


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/>'
        "</Relationships>"
    ),
    # Two cell formats: 0 plain, 1 bold (the header row).
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _workbook_xml(sheet_name: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{_xml_text(sheet_name)}" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )


def _xlsx_text(value: Any) -> str:
    """A cell that is neither text, a whole number nor a decimal, as text."""
    if isinstance(value, bool):
        return YES_NO[value]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_xlsx(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], stream: IO[bytes], *, sheet_name: str = "datos", escape: bool = True
) -> int:
    """One worksheet: the header row in bold and frozen, then the rows; returns the data rows written.

    Whole numbers and decimals are numeric cells; everything else is an inline string, escaped like
    a CSV cell (``escape=False`` for cells that come escaped already, as the admin's resources do);
    an empty value is an empty cell.
    """
    letters = [column_letter(index) for index in range(len(columns))]
    count = 0
    # Level 1: a file some 15 % larger than level 6 in about half the time.
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in _XLSX_PARTS.items():
            archive.writestr(name, content)
        archive.writestr("xl/workbook.xml", _workbook_xml(sheet_name[:31]))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as raw:
            sheet = io.BufferedWriter(raw, buffer_size=1 << 20)
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<sheetViews><sheetView workbookViewId="0">'
                b'<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                b"</sheetView></sheetViews><sheetData>"
            )
            header = "".join(
                f'<c r="{letter}1" s="1" t="inlineStr"><is><t>{_xml_text(escape_cell(name) if escape else name)}</t></is></c>'
                for letter, name in zip(letters, columns, strict=True)
            )
            sheet.write(f'<row r="1">{header}</row>'.encode())
            line = 1
            # The hot loop (1.3 million cells for the whole program): type checks by identity and
            # escape_cell/_xml_text inlined; the general path handles every other type.
            needs_prefix = ESCAPED_FIRST_CHARACTERS if escape else frozenset()
            needs_xml, xml_table, prefix = _NEEDS_XML_ESCAPE.search, _XML_TEXT, ESCAPE_PREFIX
            for row in rows:
                line += 1
                cells = [f'<row r="{line}">']
                for letter, value in zip(letters, row, strict=True):
                    kind = type(value)
                    if kind is int:
                        cells.append(f'<c r="{letter}{line}"><v>{value}</v></c>')
                        continue
                    if kind is Decimal:
                        cells.append(f'<c r="{letter}{line}"><v>{value:f}</v></c>')
                        continue
                    if kind is not str:
                        if value is None:
                            continue
                        value = _xlsx_text(value)
                    if not value:
                        continue
                    if value[0] in needs_prefix:
                        value = prefix + value
                    if needs_xml(value):
                        value = value.translate(xml_table)
                    cells.append(f'<c r="{letter}{line}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>')
                cells.append("</row>")
                sheet.write("".join(cells).encode())
                count += 1
            sheet.write(b"</sheetData></worksheet>")
            sheet.flush()
            sheet.detach()
    return count


# --- One export, written and logged ----------------------------------------------------------------------------
CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FILE_NAMES = {ExportKind.INSTALLATIONS: "instalaciones", ExportKind.APPLICATIONS: "solicitudes", ExportKind.PADRON: "padron"}
# An export up to this size stays in memory; a larger one goes to a temporary file.
SPOOL_MAX_BYTES = 16 * 1024 * 1024


def export_log(
    *,
    user: User,
    kind: str,
    file_format: str,
    filters: dict[str, Any],
    row_count: int,
    columns: Sequence[str],
    full_personal_data: bool,
    justification: str = "",
    channel: str = ExportChannel.API,
) -> ExportLog:
    """Write the access-log row of one export: who, as which role, when (UTC), what and why."""
    return ExportLog.objects.create(
        user=user,
        role=getattr(user, "role", "") or "",
        occurred_at=timezone.now(),
        kind=kind,
        format=file_format,
        channel=channel,
        filters=filters,
        row_count=row_count,
        columns=list(columns),
        full_personal_data=full_personal_data,
        justification=justification,
        request_id=audit_context_current().request_id,
    )


@dataclass
class ExportFile:
    """A finished export: the file (rewound), its name and type, and the log row written for it."""

    file: IO[bytes]
    filename: str
    content_type: str
    log: ExportLog


def export_build(
    *,
    user: User,
    kind: str,
    file_format: str,
    queryset: QuerySet[Application] | QuerySet[Installation] | None = None,
    program_year: int | None = None,
    filters: dict[str, Any] | None = None,
    full_personal_data: bool = False,
    justification: str = "",
    channel: str = ExportChannel.API,
) -> ExportFile:
    """Write an export to a temporary file, then log it; the caller streams the file out.

    The file is complete before its log row is written, so the row count logged is the count
    delivered; if logging fails, nothing is delivered. Callers check permissions first: this only
    refuses full personal data without its permission and a justification, as a last line.
    """
    if full_personal_data and not full_personal_data_allowed(user, justification):
        raise PermissionError("full personal data needs its permission and a justification")
    if kind == ExportKind.PADRON:
        columns, rows = padron_rows(program_year, user=user)
        full_personal_data = False
    else:
        if queryset is None:
            raise ValueError("an export of records needs the caller's queryset")
        columns, rows = export_rows(queryset, kind=kind, full_personal_data=full_personal_data)
    output = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115 -- handed to the response, which closes it
    try:
        if file_format == ExportFormat.XLSX:
            row_count = write_xlsx(columns, rows, output, sheet_name=FILE_NAMES[kind])
        else:
            row_count = write_csv(columns, rows, output)
        output.seek(0)
        log = export_log(
            user=user,
            kind=kind,
            file_format=file_format,
            filters=filters or {},
            row_count=row_count,
            columns=columns,
            full_personal_data=full_personal_data,
            justification=justification.strip(),
            channel=channel,
        )
    except BaseException:
        output.close()
        raise
    filename = export_filename(kind, file_format, timezone.localdate())
    return ExportFile(file=output, filename=filename, content_type=CONTENT_TYPES[file_format], log=log)


# --- Large exports: built by a worker into private storage (reliability.md D4) ------------------------------------
# Exports of more rows than this are built by a worker; the request answers 202 with the job.
EXPORT_SYNC_MAX_ROWS = 10_000
# A built file may be downloaded by the user who asked for it for this long, then it is deleted.
EXPORT_FILE_LIFETIME = timedelta(hours=24)
# Rows between two progress steps (each also moves the job's heartbeat).
EXPORT_PROGRESS_ROWS = 5_000
# A partial file older than this belongs to no live worker (the task's hard limit is 30 minutes).
EXPORT_PART_MAX_AGE = timedelta(hours=1)
_FINAL_FILE = re.compile(r"^(?P<job>[0-9a-f]{32})\.(?:csv|xlsx)$")
_PART_FILE = re.compile(r"^(?P<job>[0-9a-f]{32})\.[^.]+\.part$")


class ExportNotFoundError(LookupError):
    """No finished export of this user under this id (another user's is not found either)."""


class ExportExpiredError(Exception):
    """The export was built, but its download time is over or its file is gone: ask for it again."""


@dataclass
class ExportDownload:
    """A built export opened for its owner: the file, its name and type."""

    file: IO[bytes]
    filename: str
    content_type: str


def export_sync_max_rows() -> int:
    """Exports of at most this many rows are built during the request (HARVEST_EXPORT_SYNC_MAX_ROWS)."""
    return int(getattr(settings, "HARVEST_EXPORT_SYNC_MAX_ROWS", EXPORT_SYNC_MAX_ROWS))


def exports_dir() -> Path:
    """Private storage for built exports (HARVEST_EXPORTS_DIR, else var/exports): never served as static or media."""
    configured = getattr(settings, "HARVEST_EXPORTS_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "exports"


def export_row_count(
    *,
    kind: str,
    user: User,
    queryset: QuerySet[Application] | QuerySet[Installation] | None = None,
    program_year: int | None = None,
) -> int:
    """How many data rows the export would carry (one COUNT query), to choose between now and a worker."""
    if kind == ExportKind.PADRON:
        return padron_systems(program_year, user=user).count()
    if queryset is None:
        raise ValueError("an export of records needs the caller's queryset")
    return _exportable(queryset, kind=kind).count()


def filters_logged(query: dict[str, list[str]]) -> dict[str, Any]:
    """Filters as the export log keeps them: one value, or the list of a repeated parameter."""
    return {name: values if len(values) > 1 else values[0] for name, values in query.items()}


def export_request(
    *,
    user: User,
    kind: str,
    file_format: str,
    query: dict[str, list[str]] | None = None,
    program_year: int | None = None,
    full_personal_data: bool = False,
    justification: str = "",
    channel: str = ExportChannel.API,
) -> Job:
    """Queue an export too large to build during the request; the job, queued through the outbox.

    ``query`` holds the filters as asked (name → values, already checked by the caller); with the
    kind, format, program year and personal-data choice it is kept on the job, so the broker carries
    the job's id only (reliability.md F2). The worker applies the filters again, in the user's scope
    at that moment, and writes the export's one log row.
    """
    if kind not in ExportKind.values or file_format not in ExportFormat.values:
        raise ValueError(f"unknown export {kind}.{file_format}")
    if kind == ExportKind.PADRON:
        full_personal_data, query = False, {}
    elif full_personal_data and not full_personal_data_allowed(user, justification):
        raise PermissionError("full personal data needs its permission and a justification")
    parameters = {
        "kind": kind,
        "format": file_format,
        "query": {name: [str(value) for value in values] for name, values in (query or {}).items()},
        "program_year": program_year,
        "full_personal_data": full_personal_data,
        "justification": justification.strip(),
        "channel": channel,
        # The asking request's id goes on the export's log row, as for an export built at once.
        "request_id": audit_context_current().request_id[:64],
    }
    with transaction.atomic():
        # Its own lane: exports do not wait for each other.
        job, _created = job_create(kind=JobKind.EXPORT, lane=f"export-{uuid.uuid4().hex[:13]}", by=user, parameters=parameters)
        job_enqueue(job)
    return job


def export_queryset(*, kind: str, user: User, query: dict[str, list[str]]) -> QuerySet[Application] | QuerySet[Installation]:
    """The records of ``kind`` that ``user`` may see, narrowed by the list's FilterSet as the API applies it."""
    from api.filters import ApplicationFilter, InstallationFilter  # the API's filters: one definition for both paths

    filterset_class = {ExportKind.INSTALLATIONS: InstallationFilter, ExportKind.APPLICATIONS: ApplicationFilter}[kind]
    records = _MODELS[kind].objects.visible_to(user)  # type: ignore[attr-defined]  # both managers scope by user
    if not query:
        return records
    data = QueryDict(mutable=True)
    for name, values in query.items():
        data.setlist(name, values)
    filterset = filterset_class(data=data, queryset=records)
    if not filterset.is_valid():
        raise ValueError(f"the stored filters no longer validate: {sorted(filterset.errors)}")
    return filterset.qs


def export_file_path(job: Job) -> Path:
    """Where a job's export lies: a name the server made from the job's id, never one a client sent (C9)."""
    file_format = job.parameters.get("format")
    if file_format not in ExportFormat.values:
        raise ValueError(f"unexpected export format {file_format!r}")
    return exports_dir() / f"{uuid.UUID(str(job.pk)).hex}.{file_format}"


def export_expires_at(job: Job) -> datetime | None:
    """When a finished export's download ends; None for a job that built no file."""
    if job.kind != JobKind.EXPORT or job.state != JobState.SUCCEEDED or "expires_at" not in job.result:
        return None
    return datetime.fromisoformat(job.result["expires_at"])


def export_file_available(job: Job, *, now: datetime | None = None) -> bool:
    """True while the job's built file may still be downloaded (it exists and has not expired)."""
    expires_at = export_expires_at(job)
    return expires_at is not None and (now or timezone.now()) < expires_at and export_file_path(job).is_file()


def _progress_rows(rows: Iterator[list[Any]], *, job_id: uuid.UUID, total: int) -> Iterator[list[Any]]:
    """The rows, counting progress on the job (and moving its heartbeat) every EXPORT_PROGRESS_ROWS rows."""
    for done, row in enumerate(rows, start=1):
        yield row
        if done % EXPORT_PROGRESS_ROWS == 0:
            Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(
                progress_done=min(done, total), heartbeat_at=timezone.now()
            )


def export_job_run(job_id: uuid.UUID | str) -> ExportLog | None:
    """Build a queued export into private storage and log it; None if it already finished.

    Safe to run twice: the file is written under a temporary name, then, under the job's row lock
    and only if the job is still unfinished, moved into place, logged (one ``ExportLog`` row) and
    the job marked succeeded, in one transaction. A second delivery finds the job finished and
    leaves; a rerun after a lost worker builds the file again and replaces any half-done one.
    Raises ``PermissionError`` if the user may no longer export what was asked; other errors
    propagate to the task.
    """
    job = Job.objects.select_related("created_by").filter(pk=job_id, kind=JobKind.EXPORT).first()
    if job is None or job.state not in ACTIVE_JOB_STATES:
        return None
    parameters = job.parameters
    user, kind, file_format = job.created_by, parameters["kind"], parameters["format"]
    full_personal_data = bool(parameters.get("full_personal_data"))
    justification = parameters.get("justification", "")
    if user is None or not is_manager(user):
        raise PermissionError("the user who asked for the export may no longer export")
    if full_personal_data and not full_personal_data_allowed(user, justification):
        raise PermissionError("the user who asked for the export no longer has the export_full_pii permission")
    program_year = parameters.get("program_year")
    # The rows are read lazily, when the writer first asks for one.
    if kind == ExportKind.PADRON:
        total = export_row_count(kind=kind, user=user, program_year=program_year)
        columns, rows = padron_rows(program_year, user=user)
        logged_filters = {"program_year": program_year} if program_year is not None else {}
    else:
        logged_filters = filters_logged(parameters["query"])
        queryset = export_queryset(kind=kind, user=user, query=parameters["query"])
        total = export_row_count(kind=kind, user=user, queryset=queryset)
        columns, rows = export_rows(queryset, kind=kind, full_personal_data=full_personal_data)
    if job_start(job.pk, total=total) is None:
        return None
    directory = exports_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # NamedTemporaryFile creates the file readable by its owner only (0600).
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f"{job.pk.hex}.", suffix=".part", delete=False) as out:
        part = Path(out.name)
    try:
        with part.open("wb") as out:
            counted = _progress_rows(rows, job_id=job.pk, total=total)
            if file_format == ExportFormat.XLSX:
                row_count = write_xlsx(columns, counted, out, sheet_name=FILE_NAMES[kind])
            else:
                row_count = write_csv(columns, counted, out)
            out.flush()
            os.fsync(out.fileno())
        built_at = timezone.now()
        with transaction.atomic():
            locked = Job.objects.select_for_update().get(pk=job.pk)
            if locked.state not in ACTIVE_JOB_STATES:  # another delivery finished it meanwhile
                return None
            os.replace(part, export_file_path(job))
            with audit_context(request_id=parameters.get("request_id") or f"export-{job.pk.hex}"):
                log = export_log(
                    user=user,
                    kind=kind,
                    file_format=file_format,
                    filters=logged_filters,
                    row_count=row_count,
                    columns=columns,
                    full_personal_data=full_personal_data,
                    justification=justification,
                    channel=parameters.get("channel", ExportChannel.API),
                )
            job_succeed(
                job.pk,
                result={
                    "rows": row_count,
                    "format": file_format,
                    "file_name": export_filename(kind, file_format, timezone.localdate(built_at)),
                    "full_personal_data": full_personal_data,
                    "expires_at": (built_at + EXPORT_FILE_LIFETIME).isoformat(),
                },
            )
    finally:
        part.unlink(missing_ok=True)  # moved into place on success; a leftover otherwise
    return log


def export_job_give_up(job_id: uuid.UUID | str, *, error: str) -> None:
    """End an export job the worker could not finish (a bug, the time limit) and drop its file."""
    job = Job.objects.filter(pk=job_id, kind=JobKind.EXPORT).first()
    if job is None:
        return
    if job_fail(job.pk, error=error):
        export_file_path(job).unlink(missing_ok=True)


def export_download(*, job_id: uuid.UUID | str, user: User, now: datetime | None = None) -> ExportDownload:
    """Open a built export for the user who asked for it, while its download time lasts.

    Raises ``ExportNotFoundError`` unless the job is this user's finished export (so another user,
    an administrator too, learns nothing about it), ``PermissionError`` if full personal data was
    exported and the user has lost the permission since, and ``ExportExpiredError`` once the file's
    time is over (the file is deleted then) or the file is gone.
    """
    job = Job.objects.filter(pk=job_id, kind=JobKind.EXPORT, state=JobState.SUCCEEDED, created_by=user).first()
    if job is None:
        raise ExportNotFoundError(job_id)
    if job.result.get("full_personal_data") and not user.has_perm(FULL_PERSONAL_DATA_PERMISSION):
        raise PermissionError("full personal data needs the export_full_pii permission")
    path = export_file_path(job)
    expires_at = export_expires_at(job)
    if expires_at is None or (now or timezone.now()) >= expires_at:
        path.unlink(missing_ok=True)
        raise ExportExpiredError(job_id)
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise ExportExpiredError(job_id) from None
    return ExportDownload(file=file, filename=job.result["file_name"], content_type=CONTENT_TYPES[job.parameters["format"]])


def export_files_purge(*, now: datetime | None = None) -> int:
    """Delete built exports past their download time or of failed or vanished jobs, and stale partial files.

    Returns how many files were deleted. Safe to run twice, and beside a worker building a file:
    an unfinished job's file and a recent partial file are left alone.
    """
    now = now or timezone.now()
    directory = exports_dir()
    if not directory.is_dir():
        return 0
    finals: dict[uuid.UUID, list[Path]] = {}
    stale: list[Path] = []
    for path in directory.iterdir():
        if (match := _FINAL_FILE.match(path.name)) is not None:
            finals.setdefault(uuid.UUID(match["job"]), []).append(path)
        elif _PART_FILE.match(path.name) is not None:
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            if now - modified > EXPORT_PART_MAX_AGE:
                stale.append(path)
    jobs = {job.pk: job for job in Job.objects.filter(pk__in=list(finals))}
    for job_id, paths in finals.items():
        job = jobs.get(job_id)
        if job is not None and job.state in ACTIVE_JOB_STATES:
            continue  # being built again: its task replaces or keeps it
        if job is not None and job.state == JobState.SUCCEEDED and export_file_available(job, now=now):
            continue
        stale.extend(paths)
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info("exports: deleted %s expired or abandoned files", len(stale))
    return len(stale)
