"""Storing a legacy spreadsheet: check its clean rows against the database, then write all of them or none.

The reading side (``legacy.reading``) turns a file into ``CleanRow`` objects and an ``ImportReport``
holding the errors it found in the file itself. ``import_rows`` adds what only the database knows
(a CURP with an open request of that program year under another folio; a dwelling, the same street
address in the same colonia, already on another record) and, on a real run with no error anywhere,
writes every row in one transaction. With any error nothing is written, and the report is the one
a dry run gives.

Rows match earlier imports on ``Application.legacy_folio``: a row seen before updates its records
where the sheet now says something else (each changed record leaves an audit entry with old and
new values, through ``update_with_history``), and a row identical to what is stored changes nothing,
so importing the same sheet twice is harmless. One person is one ``Applicant`` (CURP is unique):
the last row naming a CURP gives its data, except for a person who also has a request made in
Harvest itself, whose data Harvest keeps.

The office's sheet has 62,700 rows. django-import-export's row-by-row engine (a ``save`` and a few
queries per row) takes minutes for that, so this is the fast path: a handful of queries preload
what the file's folios, CURPs and colonias already have (as tuples, fetched a part at a time: a
re-import's peak stays under 300 MB), comparisons happen in memory, and new rows go in with binary
COPY on PostgreSQL (executemany on SQLite) and one ``bulk_create`` audit row per model, as
``installations.demo`` does. A file's rows are written a part at a time as it is read (``_store``):
on PostgreSQL the COPYs go out from a thread of their own, on the same connection and transaction,
while the next part is read (``_CopyPipeline``); a part that cannot be judged before the rest of the
file is known waits for one plan over every row, and any error rolls everything back. Imports
that write take a PostgreSQL advisory lock, so two of them never interleave their checks and
writes; the database's constraints still refuse anything that slips between them and a concurrent
edit (then nothing is stored, and the report says so).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import queue
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F, Lookup, Max, Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import audit_context
from audit.models import AuditAction
from audit.services import audit_record, update_with_history
from installations.identifiers import (
    FOLIO_ALPHABET,
    FOLIO_BASE,
    FOLIO_RANDOM_SYMBOLS,
    folio_check_symbol,
    folio_display,
    verification_code_generate,
    verification_code_hash,
)
from installations.lifecycle import CLOSED_STATUSES, Status
from installations.models import (
    Applicant,
    Application,
    ApplicationChannel,
    Dwelling,
    DwellingWaterSupply,
    Installation,
    InstallerOrganisation,
    StatusChange,
    User,
)
from legacy import normalise
from legacy.rows import CleanRow, ImportReport, RowError
from worker.jobs import job_create, job_enqueue, job_fail, job_start, job_succeed
from worker.models import ACTIVE_JOB_STATES, Job, JobKind, JobState

if TYPE_CHECKING:
    from legacy.reading import UploadLimits

logger = logging.getLogger(__name__)

IMPORT_NOTE = "Importado de hoja legada"
# Installation.installer is required; a sheet row without one points here.
UNKNOWN_INSTALLER = "Sin dato (registro legado)"
UPLOAD_EXTENSIONS = ("csv", "xlsx")
CHUNK_ROWS = 5_000  # rows per write batch, and per progress step
COPY_SWITCH_INTERVAL_S = 0.0005  # Python's thread switch interval while an import's COPYs go out (see _copy_pipeline)
IN_CHUNK = 10_000  # records per update_with_history (its IN list; SQLite takes at most 32,766 parameters)
# One PostgreSQL advisory lock for imports that write: two imports never interleave their checks and writes.
_IMPORT_LOCK_KEY = 0x1E6A_C1_01
MEXICO_CITY = ZoneInfo("America/Mexico_City")

# The sheet's column for each CleanRow attribute (the report names columns as the office sees them).
COLUMN_OF = {
    "legacy_folio": "folio_legado",
    "program_year": "anio_programa",
    "first_name": "nombre",
    "first_surname": "primer_apellido",
    "second_surname": "segundo_apellido",
    "curp": "curp",
    "sex": "sexo",
    "woman_headed_household": "jefa_de_hogar",
    "phone": "telefono",
    "street_address": "calle_numero",
    "colonia_id": "colonia",
    "alcaldia_id": "alcaldia",
    "postal_code": "codigo_postal",
    "latitude": "latitud",
    "longitude": "longitud",
    "roof_material": "material_techo",
    "roof_area_m2": "superficie_techo_m2",
    "tank_capacity_litres": "capacidad_tanque_l",
    "installed_on": "fecha_instalacion",
    "installer_name": "instaladora",
    "modality": "modalidad",
}
# Text the database would refuse as too long: (CleanRow attribute, model field).
_LENGTH_LIMITED = [
    ("legacy_folio", Application._meta.get_field("legacy_folio")),
    ("first_name", Applicant._meta.get_field("first_name")),
    ("first_surname", Applicant._meta.get_field("first_surname")),
    ("second_surname", Applicant._meta.get_field("second_surname")),
    ("phone", Applicant._meta.get_field("phone")),
    ("street_address", Dwelling._meta.get_field("street_address")),
    ("postal_code", Dwelling._meta.get_field("postal_code")),
    ("installer_name", InstallerOrganisation._meta.get_field("name")),
]
APPLICANT_FIELDS = ["first_name", "first_surname", "second_surname", "sex", "birth_date", "phone", "woman_headed_household"]
DWELLING_FIELDS = ["colonia_id", "street_address", "postal_code", "latitude", "longitude", "roof_material", "roof_area_m2"]
APPLICATION_FIELDS = ["applicant_id", "program_year_id", "modality", "privacy_consent_at"]
INSTALLATION_FIELDS = ["installed_on", "tank_capacity_litres", "installer_id"]
_CENTS = Decimal("0.01")
_MICRODEGREES = Decimal("0.000001")


# --- Keys and values -----------------------------------------------------------------------------
def address_key(colonia_id: int, street_address: str) -> tuple[int, str]:
    """A dwelling's identity for duplicate checks: its colonia and its street address as the reading
    side compares them within a file (case, accents, punctuation and spacing ignored)."""
    return colonia_id, _street_key(street_address)


@lru_cache(maxsize=200_000)  # a sheet's and a database's streets, each normalised once
def _street_key(street_address: str) -> str:
    return normalise.key(street_address)


@lru_cache(maxsize=4096)  # a sheet holds a few hundred distinct days
def noon_in_mexico_city(day: date) -> datetime:
    """A legacy record's consent and status time: noon of the installation day, Mexico City, in UTC."""
    # In UTC, as the database gives datetimes back: equal tzinfo objects compare without offsets.
    return datetime.combine(day, time(12), tzinfo=MEXICO_CITY).astimezone(UTC)


def _quantized(value: Decimal | None, step: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(step)


def _chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _error(row: CleanRow, attribute: str, message: str) -> RowError:
    return RowError(line=row.line, column=COLUMN_OF.get(attribute, ""), message=message)


def _record_name(legacy_folio: str | None, folio: str) -> str:
    if legacy_folio:
        return _("el folio legado %(folio)s") % {"folio": legacy_folio}
    return _("la solicitud %(folio)s registrada en Harvest") % {"folio": folio_display(folio)}


# --- What the database holds for the file's keys ---------------------------------------------------
# The stored values held per record, as tuples: the key first, then the fields compared with the
# sheet's, in the order their ``*_values`` functions give them. (A dict per record, with Django's
# result cache of every row besides, took a re-import of 62,700 rows to 377 MB at its peak.) The
# columns named in ``_SHARED`` take few distinct values (years, days, materials, colonias, common
# names): each distinct value is held once, not once per record.
_APPLICATION = ("id", "dwelling_id", *APPLICATION_FIELDS)  # by legacy folio
_APPLICATION_ID, _APPLICATION_DWELLING, _APPLICATION_VALUES = 0, 1, 2
_DWELLING = ("id", *DWELLING_FIELDS)  # by id
_DWELLING_COLONIA, _DWELLING_STREET, _DWELLING_VALUES = 1, 2, 1
_INSTALLATION = ("application_id", "id", *INSTALLATION_FIELDS)  # by application id
_INSTALLATION_ID, _INSTALLATION_VALUES = 1, 2
_APPLICANT = ("curp", "id", *APPLICANT_FIELDS)  # by CURP
_APPLICANT_ID, _APPLICANT_VALUES = 1, 2
_SHARED = frozenset(
    {
        "program_year_id",
        "modality",
        "privacy_consent_at",
        "colonia_id",
        "postal_code",
        "roof_material",
        "roof_area_m2",
        "installed_on",
        "tank_capacity_litres",
        "installer_id",
        "sex",
        "birth_date",
        "first_name",  # names repeat too: María, Hernández, García…
        "first_surname",
        "second_surname",
    }
)
_FETCH_ROWS = 10_000  # rows per fetch when reading stored records: never all of them at once


@dataclass
class _Stored:
    """The database's rows for the file's folios, CURPs and colonias, read once per run (tuples laid
    out as ``_APPLICATION``, ``_DWELLING``, ``_INSTALLATION`` and ``_APPLICANT`` say)."""

    applications: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # by legacy folio
    dwellings: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # by id, for matched applications
    installations: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # by application id
    applicants: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # by CURP
    # Applicants with a request made in Harvest itself: their data is Harvest's, not the sheet's.
    live_applicant_ids: set[int] = field(default_factory=set)
    # (CURP, year) → open applications outside the file: (legacy folio or None, folio)
    open_elsewhere: dict[tuple[str, int], list[tuple[str | None, str]]] = field(default_factory=dict)
    installers: dict[str, int] = field(default_factory=dict)  # casefolded name → id
    colonias_with_dwellings: set[int] = field(default_factory=set)
    # The keys read so far that later rows may name again (``_preload`` reads each once).
    curps: set[str] = field(default_factory=set)
    colonias: set[int] = field(default_factory=set)
    installers_read: bool = False
    _by_key: dict[tuple[int, str], list[int]] | None = None

    def add_dwelling(self, dwelling: tuple[Any, ...]) -> None:
        """A stored dwelling read (again: the same dwelling may be read by id, then by its colonia)."""
        if self._by_key is not None and dwelling[0] not in self.dwellings:
            self._by_key[address_key(dwelling[_DWELLING_COLONIA], dwelling[_DWELLING_STREET])].append(dwelling[0])
        self.dwellings[dwelling[0]] = dwelling

    def dwelling_ids_at(self, key: tuple[int, str]) -> list[int]:
        """The stored dwellings at an address (of the file's colonias); the index is built on first use."""
        if key[0] not in self.colonias_with_dwellings:
            return []
        if self._by_key is None:
            self._by_key = defaultdict(list)
            for dwelling_id, dwelling in self.dwellings.items():
                self._by_key[address_key(dwelling[_DWELLING_COLONIA], dwelling[_DWELLING_STREET])].append(dwelling_id)
        return self._by_key.get(key, [])


class _AnyOf(Lookup):
    """``column`` among many values, sent as one parameter: an IN list of 62,700 placeholders costs seconds to bind.

    PostgreSQL splits one string into an array; SQLite reads a JSON array (JSON1, which Django's
    JSONField needs too).
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor != "postgresql":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(values)]  # noqa: S608 -- lhs is a column
        if all(isinstance(v, int) for v in values):
            return f"{lhs} = ANY(string_to_array(%s, ',')::bigint[])", [*params, ",".join(map(str, values))]
        if not any(_SEPARATOR in v for v in values):
            # One string split by the server: psycopg dumps a list of 62,700 strings element by element.
            return f"{lhs} = ANY(string_to_array(%s, chr(31)))", [*params, _SEPARATOR.join(values)]
        return f"{lhs} = ANY(%s::text[])", [*params, values]


_SEPARATOR = "\x1f"  # ASCII's unit separator: never in a cleaned cell (str.split takes it for a space)


def _among(queryset: QuerySet, name: str, values: Iterable[Any]) -> QuerySet:
    """``queryset`` narrowed to ``name`` in ``values``, in one query (none at all without values).

    Unordered: the reads below build dictionaries, and sorting 62,700 rows would only cost time.
    """
    distinct = sorted(set(values))
    if not distinct:
        return queryset.none()
    return queryset.order_by().filter(_AnyOf(F(name), distinct))


def _fetched(queryset: QuerySet, names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """``queryset``'s values of ``names`` as tuples, fetched a part at a time (no result cache of every row).

    A column of ``_SHARED`` gives each distinct value as one object, whatever the number of rows holding it.
    """
    records = queryset.values_list(*names).iterator(chunk_size=_FETCH_ROWS)
    shared = [(i, {}) for i, name in enumerate(names) if name in _SHARED]
    if not shared:
        yield from records
        return
    for record in records:
        values = list(record)
        for i, distinct in shared:
            values[i] = distinct.setdefault(values[i], values[i])
        yield tuple(values)


def _preload(rows: Sequence[CleanRow], stored: _Stored | None = None) -> _Stored:
    """What the database holds for the rows' folios, CURPs and colonias, added to ``stored`` (or to a new one).

    Each key is read once: ``rows`` are rows not given before (their folios differ from earlier
    rows'; a repeated folio is an error that stops the writing), and CURPs and colonias already read
    are not read again. An import that writes a part at a time reads each part's keys before writing
    the part, so it never reads back rows of its own (they name keys read earlier), and in the end
    ``stored`` holds what one read of all the rows gives.
    """
    stored = stored if stored is not None else _Stored()
    folios = {row.legacy_folio for row in rows}
    curps = {row.curp for row in rows if row.curp not in stored.curps}
    colonias = {row.colonia_id for row in rows if row.colonia_id not in stored.colonias}
    stored.curps |= curps
    stored.colonias |= colonias
    found = []
    for app in _fetched(_among(Application.objects, "legacy_folio", folios), ("legacy_folio", *_APPLICATION)):
        stored.applications[app[0]] = found_app = app[1:]
        found.append(found_app)
    # The dwellings of the file's colonias, for duplicate addresses (and as the matched rows' own dwellings).
    dwellings = stored.dwellings
    for dwelling in _fetched(_among(Dwelling.objects, "colonia_id", colonias), _DWELLING):
        stored.add_dwelling(dwelling)
        stored.colonias_with_dwellings.add(dwelling[_DWELLING_COLONIA])
    # Matched rows whose stored dwelling lies in a colonia the file does not name (yet).
    moved = [a[_APPLICATION_DWELLING] for a in found if a[_APPLICATION_DWELLING] not in dwellings]
    for dwelling in _fetched(_among(Dwelling.objects, "id", moved), _DWELLING):
        stored.add_dwelling(dwelling)
    del moved
    application_ids = [a[_APPLICATION_ID] for a in found]
    for installation in _fetched(_among(Installation.objects, "application_id", application_ids), _INSTALLATION):
        stored.installations[installation[0]] = installation
    del application_ids, found
    applicant_curps = {}
    for applicant in _fetched(_among(Applicant.objects, "curp", curps), _APPLICANT):
        stored.applicants[applicant[0]] = applicant
        applicant_curps[applicant[_APPLICANT_ID]] = applicant[0]
    # Every request of these people, to find the open ones of a year and the applicants Harvest owns.
    # The file's own folios are judged by the file's values, not by what is stored for them: these
    # rows' are left out here (a re-import would otherwise hold every record twice), later rows' when checked.
    theirs = _among(Application.objects, "applicant_id", applicant_curps)
    for applicant_id, year, legacy_folio, folio, status, channel in _fetched(
        theirs, ("applicant_id", "program_year_id", "legacy_folio", "folio", "status", "channel")
    ):
        if channel != ApplicationChannel.LEGACY:
            stored.live_applicant_ids.add(applicant_id)
        if status not in CLOSED_STATUSES and legacy_folio not in folios:
            stored.open_elsewhere.setdefault((applicant_curps[applicant_id], year), []).append((legacy_folio, folio))
    if not stored.installers_read:
        stored.installers = {name.casefold(): pk for pk, name in InstallerOrganisation.objects.values_list("pk", "name")}
        stored.installers_read = True
    return stored


# --- Checks ----------------------------------------------------------------------------------------
def _check_lengths(rows: Sequence[CleanRow], report: ImportReport) -> None:
    for row in rows:
        for attribute, model_field in _LENGTH_LIMITED:
            value = getattr(row, attribute)
            if len(value) > model_field.max_length:
                message = _("Tiene %(n)s caracteres; el máximo es %(max)s.") % {"n": len(value), "max": model_field.max_length}
                report.errors.append(_error(row, attribute, message))


def _check_repeats(rows: Sequence[CleanRow], report: ImportReport) -> None:
    """Rows of this file that repeat a folio, a CURP within one program year, or a dwelling."""
    seen_folio: dict[str, int] = {}
    seen_curp: dict[tuple[str, int], int] = {}
    seen_dwelling: dict[tuple[int, str], int] = {}
    for row in rows:
        first = seen_folio.setdefault(row.legacy_folio, row.line)
        if first != row.line:
            message = _("El folio legado se repite: ya aparece en la fila %(line)s.") % {"line": first}
            report.errors.append(_error(row, "legacy_folio", message))
        first = seen_curp.setdefault((row.curp, row.program_year), row.line)
        if first != row.line:
            message = _("La CURP ya aparece en la fila %(line)s con el mismo año del programa (%(year)s).") % {
                "line": first,
                "year": row.program_year,
            }
            report.errors.append(_error(row, "curp", message))
        first = seen_dwelling.setdefault(address_key(row.colonia_id, row.street_address), row.line)
        if first != row.line:
            message = _("La vivienda (misma calle y número en la misma colonia) ya aparece en la fila %(line)s.") % {
                "line": first
            }
            report.errors.append(_error(row, "street_address", message))


def _check_against_database(rows: Sequence[CleanRow], stored: _Stored, report: ImportReport) -> None:
    """A CURP with an open request of the same year elsewhere; a dwelling already on another record."""
    folios = {row.legacy_folio for row in rows}
    owners_wanted: dict[int, list[CleanRow]] = defaultdict(list)
    for row in rows:
        for legacy_folio, folio in stored.open_elsewhere.get((row.curp, row.program_year), []):
            if legacy_folio in folios:
                continue  # a record of this file: judged by the file's values, not by what is stored
            message = _("Esta CURP ya tiene una solicitud abierta en el año %(year)s: %(record)s.") % {
                "year": row.program_year,
                "record": _record_name(legacy_folio, folio),
            }
            report.errors.append(_error(row, "curp", message))
        existing = stored.applications.get(row.legacy_folio)
        own_dwelling_id = existing[_APPLICATION_DWELLING] if existing else None
        if existing is not None:
            own = stored.dwellings[own_dwelling_id]
            own_colonia, own_street = own[_DWELLING_COLONIA], own[_DWELLING_STREET]
            if own_colonia == row.colonia_id and (
                own_street == row.street_address
                or address_key(own_colonia, own_street) == address_key(row.colonia_id, row.street_address)
            ):
                continue  # the dwelling did not move: any duplicate is older than this import
        for dwelling_id in stored.dwelling_ids_at(address_key(row.colonia_id, row.street_address)):
            if dwelling_id != own_dwelling_id:
                owners_wanted[dwelling_id].append(row)
    if not owners_wanted:
        return
    owners: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for dwelling_id, legacy_folio, folio in _among(Application.objects, "dwelling_id", owners_wanted).values_list(
        "dwelling_id", "legacy_folio", "folio"
    ):
        owners[dwelling_id].append((legacy_folio, folio))
    for dwelling_id, wanting in owners_wanted.items():
        for legacy_folio, folio in owners[dwelling_id]:
            if legacy_folio in folios:
                continue  # a record of this file: the file says where it is now
            for row in wanting:
                message = _("La vivienda (misma calle y número en la misma colonia) ya está registrada en %(record)s.") % {
                    "record": _record_name(legacy_folio, folio)
                }
                report.errors.append(_error(row, "street_address", message))


def row_database_errors(row: CleanRow) -> list[RowError]:
    """What the database says against one clean row, exactly as ``import_rows`` says it (a few queries).

    For django-import-export's row-by-row engine (``legacy.import_resource``): the same checks and
    the same Spanish messages, one row at a time.
    """
    report = ImportReport(dry_run=True)
    _check_lengths([row], report)
    if not report.errors:
        _check_against_database([row], _preload([row]), report)
    return report.errors


# --- The plan: what a run creates and changes ------------------------------------------------------
@dataclass(frozen=True)
class _Pending:
    """An id that exists only once the run has written the row (a new applicant or installer)."""

    kind: str
    key: str


@dataclass
class _Plan:
    new_applicants: dict[str, CleanRow] = field(default_factory=dict)  # CURP → the row giving its values
    new_installers: dict[str, str] = field(default_factory=dict)  # casefolded → name as written
    new_rows: list[CleanRow] = field(default_factory=list)
    # (model, pk) → {field: new value}, only for records whose stored values differ
    changes: dict[tuple[type[Model], int], dict[str, Any]] = field(default_factory=dict)
    # Matched rows whose application lost its installation: it is written again.
    new_installations: list[tuple[CleanRow, int, int]] = field(default_factory=list)  # (row, application, dwelling)
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def applicant_values(row: CleanRow) -> dict[str, Any]:
    """The ``Applicant`` fields a row gives (not the CURP, its key)."""
    return {
        "first_name": row.first_name,
        "first_surname": row.first_surname,
        "second_surname": row.second_surname,
        "sex": row.sex,
        "birth_date": row.birth_date,
        "phone": row.phone,
        "woman_headed_household": row.woman_headed_household,
    }


def dwelling_values(row: CleanRow) -> dict[str, Any]:
    """The ``Dwelling`` fields a row gives, rounded to the columns' precision."""
    return {
        "colonia_id": row.colonia_id,
        "street_address": row.street_address,
        "postal_code": row.postal_code,
        "latitude": _quantized(row.latitude, _MICRODEGREES),
        "longitude": _quantized(row.longitude, _MICRODEGREES),
        "roof_material": row.roof_material,
        "roof_area_m2": _quantized(row.roof_area_m2, _CENTS),
    }


def _installer_key(row: CleanRow) -> str:
    return (row.installer_name.strip() or UNKNOWN_INSTALLER).casefold()


def differences(stored: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The wanted values that differ from the stored ones (an empty dict: nothing to write)."""
    if tuple(map(stored.__getitem__, wanted)) == tuple(wanted.values()):  # the common case, compared in C
        return {}
    return {name: value for name, value in wanted.items() if stored[name] != value}


def _differences(stored: tuple[Any, ...], start: int, wanted: dict[str, Any]) -> dict[str, Any]:
    """``differences`` against a stored tuple whose values, from ``start`` on, are in ``wanted``'s order."""
    values = tuple(wanted.values())
    if stored[start : start + len(values)] == values:  # the common case, compared in C
        return {}
    return {name: value for (name, value), old in zip(wanted.items(), stored[start:], strict=False) if old != value}


def _plan(rows: Sequence[CleanRow], stored: _Stored) -> _Plan:
    plan = _Plan()
    # One applicant per CURP: the last row (by line) that names it gives its values.
    by_curp: dict[str, CleanRow] = {}
    for row in rows:
        by_curp[row.curp] = row
    changed_curps: set[str] = set()
    for curp, row in by_curp.items():
        applicant = stored.applicants.get(curp)
        if applicant is None:
            plan.new_applicants[curp] = row
        elif applicant[_APPLICANT_ID] not in stored.live_applicant_ids:
            diff = _differences(applicant, _APPLICANT_VALUES, applicant_values(row))
            if diff:
                plan.changes[(Applicant, applicant[_APPLICANT_ID])] = diff
                changed_curps.add(curp)

    def applicant_id(curp: str) -> int | _Pending:
        applicant = stored.applicants.get(curp)
        return applicant[_APPLICANT_ID] if applicant else _Pending("applicant", curp)

    def installer_id(row: CleanRow) -> int | _Pending:
        key = _installer_key(row)
        if key in stored.installers:
            return stored.installers[key]
        plan.new_installers.setdefault(key, row.installer_name.strip() or UNKNOWN_INSTALLER)
        return _Pending("installer", key)

    for row in rows:
        existing = stored.applications.get(row.legacy_folio)
        if existing is None:
            plan.new_rows.append(row)
            installer_id(row)  # note a new installer
            continue
        changed = row.curp in changed_curps
        wanted_application = {
            "applicant_id": applicant_id(row.curp),
            "program_year_id": row.program_year,
            "modality": row.modality,
            # Legacy sheets record no consent date; the program's consent is signed with the system (see below).
            "privacy_consent_at": noon_in_mexico_city(row.installed_on),
        }
        application_id, dwelling_id = existing[_APPLICATION_ID], existing[_APPLICATION_DWELLING]
        diff = _differences(existing, _APPLICATION_VALUES, wanted_application)
        if diff:
            plan.changes[(Application, application_id)] = diff
            changed = True
        diff = _differences(stored.dwellings[dwelling_id], _DWELLING_VALUES, dwelling_values(row))
        if diff:
            plan.changes[(Dwelling, dwelling_id)] = diff
            changed = True
        installation = stored.installations.get(application_id)
        wanted_installation = {
            "installed_on": row.installed_on,
            "tank_capacity_litres": row.tank_capacity_litres,
            "installer_id": installer_id(row),
        }
        if installation is None:
            plan.new_installations.append((row, application_id, dwelling_id))
            changed = True
        else:
            diff = _differences(installation, _INSTALLATION_VALUES, wanted_installation)
            if diff:
                plan.changes[(Installation, installation[_INSTALLATION_ID])] = diff
                changed = True
        if changed:
            plan.updated += 1
        else:
            plan.unchanged += 1
    plan.created = len(plan.new_rows)
    return plan


# --- Writing -------------------------------------------------------------------------------------
class _FastInsert:
    """Inserts rows of one model: binary COPY on PostgreSQL, executemany on SQLite.

    ``given`` names the columns each row tuple holds, in order; the others take the field's default.
    With ``ids`` the rows come with ids reserved first (for children to point at); without, the
    database numbers them. ``bulk_create`` compiles SQL value by value, which for
    62,700 rows of five models takes most of the time budget; here values are adapted by column.
    With a ``pipeline`` (PostgreSQL), ``insert`` only queues the COPY: the pipeline's thread sends it.
    """

    def __init__(
        self, model: type[Model], given: Sequence[str], *, ids: bool = True, pipeline: _CopyPipeline | None = None
    ) -> None:
        self.model = model
        self.with_ids = ids
        self.pipeline = pipeline
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        by_attname = {f.attname: f for f in fields}
        missing = set(given) - set(by_attname)
        if missing:
            raise ValueError(f"{model._meta.label} has no columns {sorted(missing)}")
        rest = [f for f in fields if f.attname not in given]
        self.fields = [*([model._meta.pk] if ids else []), *(by_attname[name] for name in given), *rest]
        self.defaults = tuple(_plain(f.get_default()) for f in rest)
        self.table = connection.ops.quote_name(model._meta.db_table)
        self.columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)

    def insert(self, rows: Sequence[tuple[Any, ...]], ids: Sequence[int] = (), rows_done: int = 0) -> None:
        """Write the rows: with ``ids`` (from ``_reserve_ids``, one per row) when made with ``ids=True``.

        ``rows_done`` goes to the pipeline's count once the rows are written.
        """
        if not rows:
            return
        if self.with_ids:
            full = [(pk, *row, *self.defaults) for pk, row in zip(ids, rows, strict=True)]
        else:
            full = [(*row, *self.defaults) for row in rows]
        if connection.vendor == "postgresql":
            # Binary: about four times faster than text for the server to read and for psycopg to write.
            sql = f"COPY {self.table} ({self.columns}) FROM STDIN (FORMAT BINARY)"
            types = [_pg_type(f) for f in self.fields]
            if self.pipeline is not None:
                self.pipeline.copy(sql, types, full, rows_done)
            else:
                with connection.cursor() as cursor:
                    _copy_rows(cursor.cursor, sql, types, full)
        else:
            # sqlite3 adapts decimals and dates itself (Django registers the adapters); aware
            # datetimes are stored as Django stores them, in UTC without an offset.
            moments = [i for i, f in enumerate(self.fields) if f.get_internal_type() == "DateTimeField"]
            adapt = lru_cache(maxsize=4096)(connection.ops.adapt_datetimefield_value)  # "now" and a few hundred days
            placeholders = ", ".join(["%s"] * len(self.fields))
            sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})"  # noqa: S608 -- names from the model
            with connection.cursor() as cursor:
                for part in _chunks(full, CHUNK_ROWS):
                    adapted = []
                    for values in part:
                        values = list(values)
                        for i in moments:
                            if values[i] is not None:
                                values[i] = adapt(values[i])
                        adapted.append(values)
                    cursor.executemany(sql, adapted)


def _reserve_ids(model: type[Model], count: int) -> list[int]:
    """``count`` ids for rows of ``model`` still to insert, in ascending order."""
    if not count:
        return []
    pk = model._meta.pk
    if connection.vendor == "postgresql":
        # From the table's own sequence, so that concurrent writers (the app, another import) never collide.
        # As one string: 62,700 one-column rows cost more to fetch and convert than to split.
        # The sequence's name is looked up once: as ``nextval(pg_get_serial_sequence(…))`` it was looked
        # up for every id, 2 µs each (0.14 s for 62,700 ids, against 0.02 s).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, pk.column])
            (sequence,) = cursor.fetchone()
            cursor.execute("SELECT string_agg(nextval(%s::regclass)::text, ',') FROM generate_series(1, %s)", [sequence, count])
            (ids,) = cursor.fetchone()
            return sorted(map(int, ids.split(",")))
    # SQLite: the IMMEDIATE transaction holds the database's only write lock, so nobody else inserts meanwhile.
    start = (model._base_manager.aggregate(top=Max("pk"))["top"] or 0) + 1
    return list(range(start, start + count))


# PostgreSQL's names for the column types Django declares (binary COPY must name each column's type).
_PG_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "timestamp with time zone": "timestamptz",
    "double precision": "float8",
}


def _pg_type(model_field: Any) -> str:
    """``varchar(18)`` → ``varchar``, ``numeric(7, 2)`` → ``numeric``, ``bigint`` → ``int8``…"""
    declared = model_field.db_type(connection).split("(")[0].strip().lower()
    return _PG_TYPES.get(declared, declared)


def _copy_rows(cursor: Any, sql: str, types: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    with cursor.copy(sql) as copy:
        copy.set_types(types)
        for values in rows:
            copy.write_row(values)


class _CopyCancelled(Exception):
    """The import stopped before its queued COPYs were sent: they are skipped (everything rolls back)."""


class _CopyPipeline:
    """Binary COPYs sent, in the order queued, from a thread of their own on the import's connection.

    PostgreSQL spends about as long on each part (reading its rows, adding them to every index,
    checking the foreign keys when the COPY ends) as Python spends preparing it; with the COPYs on
    their own thread, the import's thread prepares the next part meanwhile (psycopg lets go of the
    GIL while it waits for the server). Same connection, same transaction: a failed COPY leaves the
    transaction aborted, and its error comes out of ``copy`` or ``drain`` in the import's thread,
    whose transaction then rolls everything back. Nothing else may use the connection until
    ``drain`` returns; ``rows_done`` counts the rows whose part has been written.
    """

    def __init__(self, raw_connection: Any) -> None:
        self._raw = raw_connection
        self._queue: queue.Queue[tuple[str, Sequence[str], Sequence[tuple[Any, ...]], int] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self.rows_done = 0
        self._thread = threading.Thread(target=self._run, name="legacy-import-copy", daemon=True)
        self._thread.start()

    def copy(self, sql: str, types: Sequence[str], rows: Sequence[tuple[Any, ...]], rows_done: int = 0) -> None:
        """Queue one COPY; ``rows_done`` is added to ``rows_done`` once it is written."""
        self._raise()
        self._queue.put((sql, types, rows, rows_done))

    def drain(self) -> None:
        """Wait until every queued COPY is written; raises the first COPY's error, as Django's errors."""
        self._queue.join()
        self._raise()

    def close(self, *, cancel: bool) -> None:
        """End the thread (skipping what is still queued if ``cancel``)."""
        if cancel and self._error is None:
            self._error = _CopyCancelled()
        self._queue.put(None)
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            with connection.wrap_database_errors:  # psycopg's IntegrityError as Django's, like any query's
                raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                if self._error is None:
                    sql, types, rows, rows_done = item
                    with self._raw.cursor() as cursor:
                        _copy_rows(cursor, sql, types, rows)
                    self.rows_done += rows_done
            except BaseException as error:  # handed to the import's thread, which raises it
                self._error = error
            finally:
                self._queue.task_done()
        self._queue.task_done()


@contextmanager
def _copy_pipeline() -> Iterator[_CopyPipeline | None]:
    """A ``_CopyPipeline`` on PostgreSQL, drained at the end of the block (None on SQLite: inserts run in place)."""
    if connection.vendor != "postgresql":
        yield None
        return
    pipeline = _CopyPipeline(connection.connection)
    # While the file is read, the import's thread runs Python without pause, and the COPY thread,
    # which needs the GIL for every row it sends and every time the socket takes more, waits up to
    # the switch interval (5 ms) each time: the server sat idle for a second of a 62,700-row import.
    # At 0.5 ms the import took 5.0 s instead of 6.5 s (0.2 ms: 5.35 s, the switching itself costs).
    interval = sys.getswitchinterval()
    sys.setswitchinterval(COPY_SWITCH_INTERVAL_S)
    try:
        yield pipeline
        pipeline.drain()
    except BaseException:
        pipeline.close(cancel=True)
        raise
    finally:
        sys.setswitchinterval(interval)
    pipeline.close(cancel=False)


def _new_folios(count: int) -> list[str]:
    """``count`` distinct new folios, drawn as ``folio_generate`` draws them, but from the OS in bulk.

    Each is 11 symbols taken uniformly from the folio alphabet plus its check symbol. SystemRandom
    makes a system call per symbol: 62,700 folios took about two seconds that way. Here random bytes
    are mapped onto the 31 symbols by a table, dropping bytes 248–255 so every symbol stays equally
    likely. A clash with a stored folio (54 random bits each) is left to the unique constraint.
    """
    table = bytes(ord(FOLIO_ALPHABET[b % FOLIO_BASE]) for b in range(256))
    uneven = bytes(range(FOLIO_BASE * (256 // FOLIO_BASE), 256))
    folios: dict[str, None] = {}  # ordered and distinct
    while len(folios) < count:
        wanted = (count - len(folios)) * FOLIO_RANDOM_SYMBOLS
        symbols = os.urandom(wanted + wanted // 16 + 64).translate(table, uneven).decode("ascii")
        for start in range(0, len(symbols) - FOLIO_RANDOM_SYMBOLS + 1, FOLIO_RANDOM_SYMBOLS):
            body = symbols[start : start + FOLIO_RANDOM_SYMBOLS]
            folios[body + folio_check_symbol(body)] = None
            if len(folios) == count:
                break
    return list(folios)


def _plain(value: Any) -> Any:
    """An enum member as its value: the driver adapts plain strings fastest."""
    return value.value if isinstance(value, enum.Enum) else value


APPLICANT_INSERT = ["created_at", "updated_at", "curp", *APPLICANT_FIELDS]
DWELLING_INSERT = ["created_at", "updated_at", *DWELLING_FIELDS, "water_supply"]
APPLICATION_INSERT = [
    "created_at",
    "updated_at",
    "folio",
    "legacy_folio",
    "verification_code_hash",
    "applicant_id",
    "dwelling_id",
    "program_year_id",
    "modality",
    "channel",
    "privacy_consent_at",
    "status",
    "status_changed_at",
]
INSTALLATION_INSERT = ["created_at", "updated_at", "application_id", "dwelling_id", *INSTALLATION_FIELDS]
STATUS_CHANGE_INSERT = ["application_id", "from_status", "to_status", "changed_by_id", "changed_at", "note"]


class _Writer:
    """Writes an import's rows inside its transaction: each part's rows with new folios as soon as the
    part is read (``new_rows``), then, once every row is known, the rest (``finish``).

    A new folio is a dwelling, an application, its installation and its status change, each part's
    rows in that order (each points at the one before), with new applicants and installers first.
    A person (CURP) new to the database is written with the first part's values that names them; if
    a later row gives other values, ``finish`` sets the last row's, as a one-go import would. With
    the ``pipeline`` (PostgreSQL), the COPYs go out on its thread while the next part is read.
    """

    def __init__(self, stored: _Stored, *, by: User | None, pipeline: _CopyPipeline | None) -> None:
        self.stored, self.pipeline = stored, pipeline
        self.now = timezone.now()
        self.by_id = by.pk if by is not None else None
        self.inserted: dict[type[Model], int] = defaultdict(int)
        self.applicant_ids: dict[str, int] = {}  # CURPs this import wrote → their ids
        self.applicant_rows: dict[str, CleanRow] = {}  # → the row whose values they were written with
        self.rows_written = 0
        self.applicants = _FastInsert(Applicant, APPLICANT_INSERT, pipeline=pipeline)
        self.dwellings = _FastInsert(Dwelling, DWELLING_INSERT, pipeline=pipeline)
        self.applications = _FastInsert(Application, APPLICATION_INSERT, pipeline=pipeline)
        self.installations = _FastInsert(Installation, INSTALLATION_INSERT, ids=False, pipeline=pipeline)
        self.status_changes = _FastInsert(StatusChange, STATUS_CHANGE_INSERT, ids=False, pipeline=pipeline)

    def drain(self) -> None:
        """Wait for the queued COPYs: the connection is the import's again (for queries and updates)."""
        if self.pipeline is not None:
            self.pipeline.drain()

    def _installers(self, names: dict[str, str]) -> None:
        """Create the installers named (casefolded → as written) that are not stored yet."""
        missing = [name for key, name in names.items() if key not in self.stored.installers]
        if missing:
            created = InstallerOrganisation.objects.bulk_create([InstallerOrganisation(name=name) for name in missing])
            self.stored.installers.update({obj.name.casefold(): obj.pk for obj in created})

    def _new_applicants(self, rows: dict[str, CleanRow]) -> None:
        """Write the people (CURP → the row giving their values) with ids of their own."""
        if not rows:
            return
        ids = _reserve_ids(Applicant, len(rows))
        now = self.now
        self.applicants.insert([(now, now, curp, *applicant_values(row).values()) for curp, row in rows.items()], ids=ids)
        self.applicant_ids.update(zip(rows, ids, strict=True))
        self.applicant_rows.update(rows)
        self.inserted[Applicant] += len(rows)

    def new_rows(self, rows: Sequence[CleanRow]) -> None:
        """Write rows whose folios the database does not hold (the connection must be free: ``drain``)."""
        if not rows:
            return
        stored, now, by_id = self.stored, self.now, self.by_id
        named: dict[str, str] = {}  # as the first row naming each writes it
        for row in rows:
            named.setdefault(_installer_key(row), row.installer_name.strip() or UNKNOWN_INSTALLER)
        self._installers(named)
        people = {}  # the part's last row naming each new person
        for row in rows:
            if row.curp not in stored.applicants and row.curp not in self.applicant_ids:
                people[row.curp] = row
        dwelling_ids, application_ids = _reserve_ids(Dwelling, len(rows)), _reserve_ids(Application, len(rows))
        self._new_applicants(people)
        applicant_ids = self.applicant_ids
        stored_applicants = stored.applicants
        self.dwellings.insert(
            [(now, now, *dwelling_values(row).values(), DwellingWaterSupply.UNKNOWN.value) for row in rows],
            ids=dwelling_ids,
        )
        # Legacy sheets hold no consent date. The program's privacy notice is signed with the
        # installation paperwork, so consent is dated on the installation day, at noon Mexico City
        # time (the hour is a convention: the sheets record days only); so is the status change.
        installed = [noon_in_mexico_city(row.installed_on) for row in rows]
        application_rows = []
        for row, dwelling_id, folio, installed_at in zip(rows, dwelling_ids, _new_folios(len(rows)), installed, strict=True):
            applicant = stored_applicants.get(row.curp)
            application_rows.append(
                (
                    now,
                    now,
                    folio,
                    row.legacy_folio,
                    # A code nobody is told: the household never registered in Harvest, so it never got
                    # one, and a household that wants to follow its record asks the program for a code.
                    verification_code_hash(verification_code_generate()),
                    applicant[_APPLICANT_ID] if applicant is not None else applicant_ids[row.curp],
                    dwelling_id,
                    row.program_year,
                    row.modality,
                    ApplicationChannel.LEGACY.value,
                    installed_at,
                    # An import of history: the system is in use. One StatusChange records how it got there.
                    Status.ACTIVE.value,
                    installed_at,
                )
            )
        self.applications.insert(application_rows, ids=application_ids)
        del application_rows
        self._installations(zip(rows, application_ids, dwelling_ids, strict=True))
        changes = [
            (application_id, "", Status.ACTIVE.value, by_id, installed_at, IMPORT_NOTE)
            for application_id, installed_at in zip(application_ids, installed, strict=True)
        ]
        # The part counts as written once its last COPY is.
        self.status_changes.insert(changes, rows_done=len(rows))
        for model in (Dwelling, Application, Installation):
            self.inserted[model] += len(rows)
        if self.pipeline is None:
            self.rows_written += len(rows)

    def _installations(self, systems: Iterable[tuple[CleanRow, int, int]]) -> None:
        """Write an installation for each (row, application id, dwelling id)."""
        now, installer_ids = self.now, self.stored.installers
        self.installations.insert(
            [
                (
                    now,
                    now,
                    application_id,
                    dwelling_id,
                    row.installed_on,
                    row.tank_capacity_litres,
                    installer_ids[_installer_key(row)],
                )
                for row, application_id, dwelling_id in systems
            ]
        )

    @property
    def written(self) -> int:
        """Rows whose new records are written (queued COPYs not yet)."""
        return self.rows_written + (self.pipeline.rows_done if self.pipeline is not None else 0)

    def finish(self, plan: _Plan, new_rows: Sequence[CleanRow]) -> None:
        """The rest of ``plan``: people, changed records, lost installations, then the ``new_rows`` not
        written yet (after the changes: a stored record may give up a CURP's year or an address that a
        new row takes), and the audit rows."""
        stored, now = self.stored, self.now
        self.drain()
        self._installers(plan.new_installers)
        # People only matched rows name (a record now under a CURP the database did not hold).
        self._new_applicants({curp: row for curp, row in plan.new_applicants.items() if curp not in self.applicant_ids})
        self.drain()
        applicant_ids = {curp: a[_APPLICANT_ID] for curp, a in stored.applicants.items()} | self.applicant_ids

        def resolved(value: Any) -> Any:
            if isinstance(value, _Pending):
                return applicant_ids[value.key] if value.kind == "applicant" else stored.installers[value.key]
            return value

        # Records the sheet changes: one update per group of records getting the same new values.
        groups: dict[tuple[type[Model], tuple[tuple[str, Any], ...]], list[int]] = defaultdict(list)
        for (model, pk), values in plan.changes.items():
            groups[(model, tuple(sorted((name, resolved(v)) for name, v in values.items())))].append(pk)
        # A person written from one part whose last row, in a later part, says otherwise.
        for curp, row in plan.new_applicants.items():
            written = applicant_values(self.applicant_rows[curp])
            if diff := differences(written, applicant_values(row)):
                groups[(Applicant, tuple(sorted(diff.items())))].append(self.applicant_ids[curp])
        for (model, values), pks in groups.items():
            extra: dict[str, Any] = {"updated_at": now}
            if model in (Application, Installation):
                extra["version"] = F("version") + 1  # a write like any other: the ETag moves on
            for part in _chunks(pks, IN_CHUNK):
                update_with_history(model._base_manager.filter(pk__in=part), note=IMPORT_NOTE, **dict(values), **extra)
        if plan.new_installations:
            self._installations(plan.new_installations)
            self.inserted[Installation] += len(plan.new_installations)
        self.drain()
        for start in range(0, len(new_rows), CHUNK_ROWS):
            self.new_rows(new_rows[start : start + CHUNK_ROWS])
            self.drain()  # the next part reserves its ids on the connection
        # One audit row per model for the whole import, not one per row (reliability.md G8).
        for model in (Applicant, Dwelling, Application, Installation):
            if self.inserted[model]:
                audit_record(model=model, action=AuditAction.BULK_CREATE, row_count=self.inserted[model], note=IMPORT_NOTE)


# --- The entry points ------------------------------------------------------------------------------
def import_rows(
    rows: list[CleanRow],
    report: ImportReport,
    *,
    by: User | None,
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check clean rows against the database and, on a real run with no error anywhere, store them all.

    ``report`` comes from the reading side (its errors stay; this adds the database's). With any
    error, nothing is written and the counts stay 0, on a real run exactly as on a dry run. Without
    errors the counts say what the run did (or, dry, would do): rows created, rows with a record
    updated, rows unchanged. ``progress`` is called with the number of rows done so far.
    """
    from legacy.reading import PART_ROWS

    if not report.rows:
        report.rows = len(rows)
    rows = sorted(rows, key=lambda row: row.line)
    _check_lengths(rows, report)  # ``legacy.reading`` refuses over-long text and repeats when it reads a file
    _check_repeats(rows, report)
    step = (lambda done, _total: progress(done)) if progress is not None else None
    if dry_run or report.errors:
        return _checks_only(rows, report, progress=step)
    parts = [rows[start : start + PART_ROWS] for start in range(0, len(rows), PART_ROWS)]
    return _store(parts, report, by=by, progress=step, total=lambda: len(rows))


def import_file(
    path: Path | str,
    *,
    by: User | None,
    dry_run: bool,
    progress: Callable[[int, int], None] | None = None,
    limits: UploadLimits | None = None,
) -> ImportReport:
    """Read a stored CSV or XLSX and import it; ``progress(done, total)`` starts at ``(0, rows)``.

    A real run writes each part of the file as soon as it is read and checked, while the next part
    is read, and the whole file in one transaction: any error, in the file or against the database,
    rolls back what was written, and the report is then exactly the one a dry run gives. Until the
    file is read, the total is the file's own estimate (its lines, or an XLSX sheet's dimension).
    ``limits`` replaces the upload limits of ``legacy.reading`` (for benchmarks; uploads keep the defaults).
    """
    from legacy.reading import LIMITS, FileParts  # the upload checks, every row, and the repeats within the file

    report = ImportReport(dry_run=dry_run)
    parts = FileParts(path, report, limits=limits or LIMITS)
    if dry_run:
        rows = [row for part in parts for row in part]
        if progress is not None:
            progress(0, report.rows)
        return _checks_only([] if parts.refused else rows, report, progress=progress)
    return _store(parts, report, by=by, progress=progress, total=lambda: max(parts.estimated_rows, report.rows))


def _checks_only(rows: Sequence[CleanRow], report: ImportReport, *, progress: Callable[[int, int], None] | None) -> ImportReport:
    """A dry run: every check against the database, the counts of what a real run would do, no lock, no writes."""
    plan = _checked_plan(rows, report)
    if plan is not None:
        report.created, report.updated, report.unchanged = plan.created, plan.updated, plan.unchanged
    if progress is not None:
        progress(len(rows), max(report.rows, len(rows)))
    return _sorted(report)


def _writable(part: Sequence[CleanRow], stored: _Stored) -> bool:
    """Whether a part whose folios are all new to the database can be written before the rest of the
    file is read: the database holds nothing against its rows even judged without the rest of the
    file (a stored record that a later row changes counts against them). Otherwise the part and the
    rest wait for the whole file: its checks, then changes before new rows, as one plan."""
    probe = ImportReport(dry_run=True)
    _check_against_database(part, stored, probe)
    return not probe.errors


class _Refused(Exception):
    """Raised inside an import's transaction to roll back what it wrote: an error turned up."""


def _store(
    parts: Iterable[Sequence[CleanRow]],
    report: ImportReport,
    *,
    by: User | None,
    progress: Callable[[int, int], None] | None,
    total: Callable[[], int],
) -> ImportReport:
    """A real run over rows arriving a part at a time (``report`` gets the reading's errors as they come).

    In one transaction: each part's new folios are written while the next part is read, until the
    first error; then every row is checked against the database as read before the run (``_preload``
    never reads back the run's own rows), and with no error at all the rest is planned and written.
    Otherwise everything rolls back and the report is the dry run's: every row read, every error.
    """
    rows: list[CleanRow] = []
    refused = False  # a part of the file was refused as a whole: its rows count for nothing
    checked = False
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])
                    # Foreign keys are DEFERRABLE INITIALLY DEFERRED: queued to the commit, 62,700 rows'
                    # checks cost seconds more than checking each row as it arrives. The commit need not
                    # wait for the disk: a crash can lose only a whole import, which can simply run again.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET LOCAL synchronous_commit = off")
            stored = _Stored()
            streaming, written, read = True, 0, 0  # rows[:written] are written; the keys of rows[:read] are read
            with _copy_pipeline() as pipeline:
                writer = _Writer(stored, by=by, pipeline=pipeline)
                for part in parts:
                    if not rows and progress is not None:
                        progress(0, total())
                    rows.extend(part)
                    if not streaming or report.errors:
                        continue  # the rest is written once the whole file is known, if at all
                    writer.drain()
                    if _among(Application.objects, "legacy_folio", [row.legacy_folio for row in part]).exists():
                        # A folio already stored (a re-import): this part and the rest wait for the
                        # whole file, and nothing is read from the database until the file is read.
                        streaming = False
                        continue
                    _preload(part, stored)
                    read = len(rows)
                    streaming = _writable(part, stored)
                    if streaming:
                        writer.new_rows(part)
                        written = len(rows)
                        if progress is not None:
                            progress(writer.written, total())
                writer.drain()
                refused = getattr(parts, "refused", False)
                if not report.errors:
                    _preload(rows[read:], stored)
                    checked = True
                    _check_against_database(rows, stored, report)
                if report.errors or refused:
                    raise _Refused
                plan = _plan(rows, stored)
                writer.finish(plan, [row for row in rows[written:] if row.legacy_folio not in stored.applications])
            report.created, report.updated, report.unchanged = plan.created, plan.updated, plan.unchanged
    except _Refused:
        # Rolled back. The database's errors too, as a dry run gives them (none for a file refused as a whole).
        if not checked:
            _checked_plan([] if refused else rows, report)
    except IntegrityError:
        # Someone else's write collided with this import's between the checks and the writes (a
        # constraint still held them apart); everything rolled back.
        logger.warning("legacy import: a constraint refused the writes; nothing was stored", exc_info=True)
        report.created = report.updated = report.unchanged = 0
        report.errors.append(
            RowError(
                line=0,
                column="",
                message=_("Otro cambio en el sistema chocó con la importación y no se guardó nada; vuelva a intentarlo."),
            )
        )
    if progress is not None:
        progress(len(rows), max(report.rows, len(rows)))
    return _sorted(report)


def _checked_plan(rows: Sequence[CleanRow], report: ImportReport, stored: _Stored | None = None) -> _Plan | None:
    stored = stored or _preload(rows)
    _check_against_database(rows, stored, report)
    return None if report.errors else _plan(rows, stored)


def _sorted(report: ImportReport) -> ImportReport:
    report.errors.sort(key=lambda error: error.line)  # stable: the order within a row stays
    return report


# --- Uploads and the job -------------------------------------------------------------------------
def imports_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def stored_upload_path(parameters: dict[str, Any]) -> Path:
    """Where a job's upload lies: a name the server made (a UUID), never the one the client sent (C9)."""
    token = uuid.UUID(str(parameters["file"])).hex
    extension = parameters.get("extension", "csv")
    if extension not in UPLOAD_EXTENSIONS:
        raise ValueError(f"unexpected extension {extension!r}")
    return imports_dir() / f"{token}.{extension}"


def import_request(*, upload: UploadedFile, by: User | None, dry_run: bool) -> Job:
    """Store an upload under a server-made name and queue its import; refuse a file that is not a sheet.

    Raises ``ValidationError`` on the field ``file`` when the upload is too large, not a CSV or XLSX,
    or otherwise unreadable as a whole (the rows are judged later, by the job).
    """
    from legacy.reading import LIMITS, check_upload

    name = upload.name or ""
    if upload.size is not None and upload.size > LIMITS.max_bytes:
        message = _("El archivo pesa %(size).1f MB; el máximo es %(max)s MB.") % {
            "size": upload.size / 1024 / 1024,
            "max": LIMITS.max_bytes // 1024 // 1024,
        }
        raise ValidationError({"file": ValidationError(message, code="too_large")})
    suffix = Path(name).suffix.lower().lstrip(".")
    extension = suffix if suffix in UPLOAD_EXTENSIONS else "csv"  # check_upload refuses anything else
    token = uuid.uuid4()
    directory = imports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{token.hex}.{extension}"
    with path.open("xb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    refused = check_upload(name, path)
    if refused:
        path.unlink(missing_ok=True)
        raise ValidationError({"file": [ValidationError(str(error.message), code="invalid") for error in refused]})
    parameters = {"file": token.hex, "extension": extension, "dry_run": dry_run, "name": name[:200]}
    try:
        with transaction.atomic():
            # Its own lane: imports do not wait for each other in the queue (their writes take a lock).
            job, _created = job_create(kind=JobKind.LEGACY_IMPORT, lane=f"import-{token.hex[:13]}", by=by, parameters=parameters)
            job_enqueue(job)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


def import_job_run(job_id: uuid.UUID | str) -> ImportReport | None:
    """Run an import job; None if it already finished (a second delivery) or its file is gone.

    A refused file still ends the job as SUCCEEDED: the job did its work, and its result is the
    report, with ``ok`` false and every error. FAILED is kept for a job that could not do its work
    (the file vanished, a bug, the time limit: see ``import_job_give_up``). The stored file is
    deleted once the job has finished. Errors propagate to the task, which decides on a retry.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state not in ACTIVE_JOB_STATES:
        return None
    path = stored_upload_path(job.parameters)
    if not path.exists():
        job_fail(job.pk, error=_("El archivo subido ya no está disponible; súbalo de nuevo."))
        return None
    if job_start(job.pk, total=0) is None:
        return None
    progress = _JobProgress(job.pk)
    try:
        with audit_context(request_id=f"legacy-import-{job.pk.hex}"):
            report = import_file(path, by=job.created_by, dry_run=bool(job.parameters.get("dry_run")), progress=progress)
    finally:
        progress.close()
    job_succeed(job.pk, result=report.as_dict())
    path.unlink(missing_ok=True)
    return report


def import_job_give_up(job_id: uuid.UUID | str, *, error: str) -> None:
    """End a job the worker could not finish (a bug, the time limit) and drop its file."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    job_fail(job.pk, error=error)
    stored_upload_path(job.parameters).unlink(missing_ok=True)


class _JobProgress:
    """Writes a job's progress where followers see it at once, also from inside the import's transaction.

    Inside the import's transaction the worker's own connection would keep the progress invisible
    until commit, so on PostgreSQL it goes through a connection of its own. SQLite has a single
    writer: there, progress inside the transaction is skipped and the job's end records it.
    """

    def __init__(self, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        self.side: Any = None
        # Transactions already open when the job began (none in a worker): deeper ones are the import's.
        self.depth = len(connection.atomic_blocks)

    def __call__(self, done: int, total: int) -> None:
        table = connection.ops.quote_name(Job._meta.db_table)
        # Never backwards and never past the total (a retried run counts from 0 again).
        sql = (
            f"UPDATE {table} SET progress_total = CASE WHEN progress_done > %s THEN progress_done ELSE %s END, "  # noqa: S608 -- the name comes from the model
            "progress_done = CASE WHEN progress_done > %s THEN progress_done ELSE %s END, heartbeat_at = %s "
            "WHERE id = %s AND state = %s"
        )
        done = min(done, total)
        params = [total, total, done, done, timezone.now(), self.job_id, JobState.RUNNING.value]
        if len(connection.atomic_blocks) <= self.depth:
            with connection.cursor() as cursor:
                cursor.execute(sql, _db_params(connection, params))
            return
        if connection.vendor != "postgresql":
            return
        try:
            if self.side is None:
                self.side = connections.create_connection(DEFAULT_DB_ALIAS)
            with self.side.cursor() as cursor:
                cursor.execute(sql, _db_params(self.side, params))
        except DatabaseError:  # progress is a courtesy: it never stops the import
            logger.warning("legacy import: could not record the progress of job %s", self.job_id, exc_info=True)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None


def _db_params(conn: Any, params: list[Any]) -> list[Any]:
    """Raw SQL parameters as the backend takes them (SQLite wants UUIDs as hex and datetimes as text)."""
    if conn.vendor == "postgresql":
        return params
    return [
        value.hex
        if isinstance(value, uuid.UUID)
        else conn.ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime)
        else value
        for value in params
    ]
