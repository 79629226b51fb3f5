"""The household's tracking number (folio), its verification code, and the CURP.

Folio: 11 random symbols from a 31-symbol alphabet (54.5 bits) plus one check symbol, shown as
``XXXX-XXXX-XXXX``. The alphabet is Crockford's base 32 without V, which a Spanish speaker says
exactly like B; I, L, O and U are left out too, so nothing reads as 1 or 0. The check symbol makes
the weighted sum ``Σ i·value(i)`` (positions 1–12) divisible by 31. As 31 is prime and every
weight and every difference of two values is below 31, one mistyped symbol changes the sum by
``i·(a−b) ≢ 0``, and two swapped neighbours by ``±(a−b) ≢ 0``: both are always caught.
"""

import hashlib
import hmac
import random
import re
import secrets
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

FOLIO_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTWXYZ"
FOLIO_BASE = len(FOLIO_ALPHABET)  # 31, a prime
FOLIO_RANDOM_SYMBOLS = 11
FOLIO_LENGTH = FOLIO_RANDOM_SYMBOLS + 1
# Symbols people write for others: Crockford's reading rules.
_FOLIO_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_FOLIO_SEPARATORS = re.compile(r"[\s\-_.·]+")
_system_random = secrets.SystemRandom()


def _weighted_sum(values: list[int]) -> int:
    return sum((position + 1) * value for position, value in enumerate(values)) % FOLIO_BASE


def folio_check_symbol(body: str) -> str:
    """The symbol that, in position 12, makes the weighted sum of the folio divisible by 31."""
    values = [FOLIO_ALPHABET.index(symbol) for symbol in body]
    partial = _weighted_sum(values)
    # Solve partial + 12·c ≡ 0 (mod 31): c = −partial · 12⁻¹.
    inverse_of_weight = pow(FOLIO_LENGTH, -1, FOLIO_BASE)
    return FOLIO_ALPHABET[(-partial * inverse_of_weight) % FOLIO_BASE]


def folio_generate(rng: random.Random | None = None) -> str:
    """A new folio in canonical form (12 symbols, no dashes). Random, never sequential."""
    rng = rng or _system_random
    body = "".join(rng.choice(FOLIO_ALPHABET) for _ in range(FOLIO_RANDOM_SYMBOLS))
    return body + folio_check_symbol(body)


def folio_normalize(raw: str) -> str:
    """Upper-case, drop spaces and dashes, read O as 0 and I/L as 1. Does not validate."""
    return _FOLIO_SEPARATORS.sub("", raw or "").upper().translate(_FOLIO_ALIASES)


def folio_is_valid(canonical: str) -> bool:
    if len(canonical) != FOLIO_LENGTH or any(symbol not in FOLIO_ALPHABET for symbol in canonical):
        return False
    return _weighted_sum([FOLIO_ALPHABET.index(symbol) for symbol in canonical]) == 0


def folio_display(canonical: str) -> str:
    """The folio as printed and read aloud: three groups of four."""
    return "-".join(canonical[i : i + 4] for i in range(0, len(canonical), 4))


def verification_code_generate(rng: random.Random | None = None) -> str:
    """Six random digits (about 20 bits), printed on the household's receipt."""
    rng = rng or _system_random
    return f"{rng.randrange(1_000_000):06d}"


def verification_code_hash(code: str) -> str:
    """Keyed hash of a verification code; only this is stored."""
    key = settings.HARVEST_CODE_HASH_KEY.encode()
    return hmac.new(key, code.strip().encode(), hashlib.sha256).hexdigest()


def verification_code_matches(code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(verification_code_hash(code), stored_hash)


# --- CURP ------------------------------------------------------------------------------------
CURP_CHECK_DICTIONARY = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
CURP_STATES = frozenset(
    [
        "AS",
        "BC",
        "BS",
        "CC",
        "CL",
        "CM",
        "CS",
        "CH",
        "DF",
        "DG",
        "GT",
        "GR",
        "HG",
        "JC",
        "MC",
        "MN",
        "MS",
        "NT",
        "NL",
        "OC",
        "PL",
        "QT",
        "QR",
        "SP",
        "SL",
        "SR",
        "TC",
        "TS",
        "TL",
        "VZ",
        "YN",
        "ZS",
        "NE",
    ]
)
CURP_PATTERN = re.compile(
    r"^[A-Z][AEIOUX][A-Z]{2}(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})(?P<sex>[HMX])(?P<state>[A-Z]{2})"
    r"[B-DF-HJ-NP-TV-Z]{3}(?P<century>[0-9A-Z])(?P<check>\d)$"
)


def curp_check_digit(first_17: str) -> int:
    """RENAPO's check digit: weights 18…2 over the first 17 symbols, then (10 − sum mod 10) mod 10."""
    total = sum(CURP_CHECK_DICTIONARY.index(symbol) * (18 - position) for position, symbol in enumerate(first_17))
    return (10 - total % 10) % 10


def curp_birth_date(curp: str) -> date:
    """The birth date a CURP encodes; position 17 is a digit before 2000 and a letter from 2000."""
    match = CURP_PATTERN.match(curp)
    if match is None:
        raise ValueError(curp)
    century = 1900 if match["century"].isdigit() else 2000
    return date(century + int(match["yy"]), int(match["mm"]), int(match["dd"]))


def validate_curp(value: str) -> None:
    """Refuse a CURP that is malformed, names an impossible date or state, or fails its check digit."""
    curp = (value or "").strip().upper()
    if len(curp) != 18:
        raise ValidationError(_("La CURP debe tener 18 caracteres; tiene %(n)s."), code="curp_length", params={"n": len(curp)})
    match = CURP_PATTERN.match(curp)
    if match is None:
        raise ValidationError(
            _("La CURP no tiene el formato oficial (4 letras, fecha, sexo, entidad, 3 consonantes y 2 caracteres)."),
            code="curp_format",
        )
    if match["state"] not in CURP_STATES:
        raise ValidationError(
            _("La CURP indica una entidad de nacimiento que no existe (%(state)s)."),
            code="curp_state",
            params={"state": match["state"]},
        )
    try:
        curp_birth_date(curp)
    except ValueError:
        raise ValidationError(_("La CURP contiene una fecha de nacimiento imposible."), code="curp_date") from None
    if curp_check_digit(curp[:17]) != int(match["check"]):
        raise ValidationError(
            _("El dígito verificador de la CURP no coincide; revise que esté bien escrita."), code="curp_check_digit"
        )
