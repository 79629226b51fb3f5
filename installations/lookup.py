"""What a household reads without an account: the year open to registration and its request's status.

The status lookup cannot tell a wrong verification code from an unknown folio (reliability.md A3):
both run the same query and one HMAC comparison (against a dummy hash when no folio matches) and
both give ``None``. Only a matching code reads anything more. What it returns is the status, never
the person: no name, CURP, address, phone, technician, coordinates or internal ids (A7).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import TruncDate

from installations.identifiers import folio_normalize, verification_code_matches
from installations.lifecycle import NEXT_STEP, status_label
from installations.models import Application, ProgramYear

# Households read dates as Mexico City's calendar, whatever the server's zone.
MEXICO_CITY = ZoneInfo("America/Mexico_City")
# Compared when no folio matches, so that both failures cost one HMAC; no code hashes to it.
_NO_SUCH_CODE_HASH = "0" * 64


@dataclass(frozen=True)
class PublicStatusStep:
    """One line of the public history: a status and the day it was reached."""

    status: str
    status_label: str
    on: date


@dataclass(frozen=True)
class PublicStatus:
    """What a household is told about its request: where it is, since when, and what comes next."""

    status: str
    status_label: str
    updated_on: date
    next_step: str
    alcaldia: str
    history: tuple[PublicStatusStep, ...]


def program_year_open() -> ProgramYear | None:
    """The year households register for: the latest one in the program."""
    return ProgramYear.objects.order_by("-year").first()


def folio_fingerprint(folio_raw: str) -> str:
    """A short keyed hash of a folio, for logs and counter keys; the same however the folio is written."""
    key = settings.HARVEST_CODE_HASH_KEY.encode()
    digest = hmac.new(key, b"folio:" + folio_normalize(folio_raw).encode(), hashlib.sha256).hexdigest()
    return digest[:16]


_FOLIO_SENTINEL = "\x00folio\x00"


def _lookup_queryset(folio: str) -> QuerySet[Application]:
    return (
        Application.objects.filter(folio=folio)
        .annotate(
            status_changed_on=TruncDate("status_changed_at", tzinfo=MEXICO_CITY),
            created_on=TruncDate("created_at", tzinfo=MEXICO_CITY),
            step_on=TruncDate("status_changes__changed_at", tzinfo=MEXICO_CITY),
        )
        .values_list(
            "status",
            "verification_code_hash",
            "dwelling__colonia__alcaldia__name",
            "status_changed_on",
            "created_on",
            "status_changes__to_status",
            "step_on",
        )
        .order_by("status_changes__changed_at", "status_changes__pk")
    )


@functools.cache
def _lookup_statement(vendor: str) -> tuple[str, tuple[object, ...], int]:
    """The lookup's SQL, compiled once per process from the ORM query above: building and compiling
    the query took longer than the database took to answer it. Returns the SQL, its parameters and
    where the folio goes among them."""
    sql, params = _lookup_queryset(_FOLIO_SENTINEL).query.sql_with_params()
    return sql, tuple(params), params.index(_FOLIO_SENTINEL)


def _as_date(value: object) -> date | None:
    """SQLite hands dates over as text; PostgreSQL as dates."""
    return date.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


def application_status_lookup(folio_raw: str, code: str) -> PublicStatus | None:
    """The status of the request with this folio if ``code`` is its verification code; else None.

    The folio may be written in any case, with dashes or spaces. One query serves every path (an
    unknown folio, a wrong code, a right one): the request's row joined to its history, one row per
    step, with dates cut in the database to Mexico City's day (parsing timestamps in Python would
    cost more than the rest of the lookup).
    """
    sql, params, folio_at = _lookup_statement(connection.vendor)
    params = list(params)
    params[folio_at] = folio_normalize(folio_raw)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(*row[:3], _as_date(row[3]), _as_date(row[4]), row[5], _as_date(row[6])) for row in cursor.fetchall()]
    # Compare before looking at the row, so both failures take the same steps.
    matches = verification_code_matches(code, rows[0][1] if rows else _NO_SUCH_CODE_HASH)
    if not rows or not matches:
        return None
    status, _hash, alcaldia, status_changed_on, created_on = rows[0][:5]
    history = tuple(
        PublicStatusStep(status=to_status, status_label=status_label(to_status), on=on)
        for *_, to_status, on in rows
        if to_status is not None
    )
    # Rows inserted around the service (imports, fixtures) may lack status_changed_at.
    updated_on = status_changed_on or (history[-1].on if history else created_on)
    return PublicStatus(
        status=status,
        status_label=status_label(status),
        updated_on=updated_on,
        next_step=str(NEXT_STEP.get(status, "")),
        alcaldia=alcaldia,
        history=history,
    )
