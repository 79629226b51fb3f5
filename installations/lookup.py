"""What a household reads without an account: the year open to registration and its request's status.

The status lookup cannot tell a wrong verification code from an unknown folio (reliability.md A3):
both run the same query and one HMAC comparison (against a dummy hash when no folio matches) and
both give ``None``. Only a matching code reads anything more. What it returns is the status, never
the person: no name, CURP, address, phone, technician, coordinates or internal ids (A7).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F
from django.db.models.functions import TruncDate

from installations.identifiers import folio_normalize, verification_code_matches
from installations.lifecycle import NEXT_STEP, status_label
from installations.models import Application, ProgramYear, StatusChange

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


def application_status_lookup(folio_raw: str, code: str) -> PublicStatus | None:
    """The status of the request with this folio if ``code`` is its verification code; else None.

    The folio may be written in any case, with dashes or spaces.
    """
    # Dates are cut in the database (Mexico City's day): parsing timestamps in Python costs more
    # than the rest of the lookup.
    row = (
        Application.objects.filter(folio=folio_normalize(folio_raw))
        .values("pk", "status", "verification_code_hash")
        .annotate(
            alcaldia=F("dwelling__colonia__alcaldia__name"),
            status_changed_on=TruncDate("status_changed_at", tzinfo=MEXICO_CITY),
            created_on=TruncDate("created_at", tzinfo=MEXICO_CITY),
        )
        .order_by()[:1]
    )
    row = row[0] if row else None
    # Compare before looking at the row, so both failures take the same steps.
    matches = verification_code_matches(code, row["verification_code_hash"] if row else _NO_SUCH_CODE_HASH)
    if row is None or not matches:
        return None
    changes = list(
        StatusChange.objects.filter(application_id=row["pk"])
        .order_by("changed_at", "pk")
        .values_list("to_status", TruncDate("changed_at", tzinfo=MEXICO_CITY))
    )
    history = tuple(PublicStatusStep(status=to_status, status_label=status_label(to_status), on=on) for to_status, on in changes)
    # Rows inserted around the service (imports, fixtures) may lack status_changed_at.
    updated_on = row["status_changed_on"] or (changes[-1][1] if changes else row["created_on"])
    return PublicStatus(
        status=row["status"],
        status_label=status_label(row["status"]),
        updated_on=updated_on,
        next_step=str(NEXT_STEP.get(row["status"], "")),
        alcaldia=row["alcaldia"],
        history=history,
    )
