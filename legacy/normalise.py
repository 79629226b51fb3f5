"""Values as the program's offices write them in their spreadsheets, read into Harvest's values.

Pure functions: no database, no network. Each returns the clean value or raises ``Invalid`` with a
message in Spanish for the office. The catalogues they need (alcaldías, colonias) are passed in,
already loaded. A cell holding a URL is text like any other: nothing here, or anywhere in the
import, fetches it.

Messages never repeat a person's data (CURP, name, phone, street address): a report may be kept or
shown to others. They do repeat reference values (alcaldía, colonia, dates, numbers).

Numbers. Mexico writes ``1,234.5`` and Spain ``1.234,5``, and a single ``1,234`` reads either way.
So a number has at most one separator, ``.`` or ``,``, and it is always the decimal one (``40.5`` =
``40,5``); a comma followed by exactly three digits after a non-zero integer part (``2,500``) is
refused as ambiguous; ``1.234,5``, ``1,234.5`` and ``1.234.567`` are refused as thousands
separators. Spaces between groups of three digits (``2 500``) are read as grouping. Areas are
rounded to cents of m² and coordinates to 6 decimals (the columns' precision), which also absorbs
the binary noise of spreadsheet numbers (``40.550000000000004``).

Dates are always day first (``03/04/2023`` is 3 April); a month above 12 is an impossible date,
not a hint to read the date the US way.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from difflib import get_close_matches

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from installations.identifiers import curp_birth_date, validate_curp
from installations.models import CDMX_LATITUDE_RANGE, CDMX_LONGITUDE_RANGE, ApplicantSex, Modality, RoofMaterial

# The program's first call (Reglas de Operación 2019, domain.md §1): nothing was installed before.
PROGRAM_START = date(2019, 1, 1)
# Day 0 of Excel's (1900) date system; serials from 61 on (1 March 1900) count from here.
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_1904_EPOCH = date(1904, 1, 1)
MAX_TANK_LITRES = 2_147_483_647  # PositiveIntegerField
MAX_ROOF_AREA_M2 = Decimal("99999.99")  # DecimalField(max_digits=7, decimal_places=2)
# What Excel shows in a cell whose formula failed, in English (as stored in .xlsx) and in Spanish.
EXCEL_ERRORS = frozenset(
    {"#N/A", "#N/D", "#VALUE!", "#¡VALOR!", "#REF!", "#¡REF!", "#DIV/0!", "#¡DIV/0!", "#NUM!", "#¡NUM!"}
    | {"#NAME?", "#¿NOMBRE?", "#NULL!", "#¡NULO!", "#SPILL!", "#¡DESBORDAMIENTO!", "#CALC!", "#¡CALC!"}
)


class Invalid(ValueError):
    """A value the office wrote that cannot be read; ``message`` says why, in Spanish."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidColumns(Invalid):
    """Values of several columns that are wrong together: one message per column."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__(" ".join(messages.values()))
        self.messages = messages


# --- Text and keys -----------------------------------------------------------------------------------
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\xad]")
_SEPARATORS = re.compile(r"[^\w\u0300-\u036f]+|_+")  # combining accents stay, to be dropped with the base letter kept
_HEADER_STOPWORDS = frozenset({"de", "del", "la", "el", "los", "las", "y", "en"})


def text(value: str | None) -> str:
    """Strip, and collapse runs of spaces, tabs, line breaks and non-breaking spaces to one space.

    A cell showing an Excel error (``#N/A``, ``#¡VALOR!``…) is refused: its real value is unknown.
    """
    if not value:
        return ""
    if not value.isascii() and _INVISIBLE.search(value):
        value = _INVISIBLE.sub("", value)
    cleaned = " ".join(value.split())
    if cleaned[:1] == "#" and cleaned.upper() in EXCEL_ERRORS:
        raise Invalid(_("La celda muestra un error de Excel (%(error)s); capture el valor.") % {"error": cleaned})
    return cleaned


def bounded_text(value: str, max_length: int) -> str:
    cleaned = text(value)
    if len(cleaned) > max_length:
        raise Invalid(
            _("El texto tiene %(length)s caracteres; el máximo es %(max)s.") % {"length": len(cleaned), "max": max_length}
        )
    return cleaned


def key(value: str) -> str:
    """A comparison key: case-folded, without accents (ñ → n), punctuation and ``_`` read as spaces.

    Letters with no ASCII base (ø, ł…) are dropped: Spanish and Nahuatl names do not use them.
    """
    folded = value.casefold()
    if folded.isascii():
        return " ".join(_SEPARATORS.sub(" ", folded).split())
    spaced = _SEPARATORS.sub(" ", unicodedata.normalize("NFKD", folded))
    return " ".join(spaced.encode("ascii", "ignore").decode("ascii").split())


def header_key(value: str) -> str:
    """A header's key: ``key`` without spaces and the words de/del/la/el/los/las/y/en; «año» = «anio».

    So «Fecha de instalación», «FECHA_INSTALACION» and «fecha instalacion» are one column, and
    «Superficie del techo (m²)» is ``superficie_techo_m2``.
    """
    words = [word for word in key(value).split() if word not in _HEADER_STOPWORDS]
    return "".join("ano" if word == "anio" else word for word in words)


def _suggestion(wanted: str, candidates: dict[str, str]) -> str:
    """« ¿Quiso decir «X»?» for the closest candidate key, or ""."""
    close = get_close_matches(wanted, list(candidates), n=1, cutoff=0.8)
    return (" " + _("¿Quiso decir «%(name)s»?") % {"name": candidates[close[0]]}) if close else ""


# --- Alcaldías -----------------------------------------------------------------------------------------
# Short forms the offices use, on top of each alcaldía's name and the short names kept with it.
ALCALDIA_ALIASES = {
    "gam": "09005",
    "g a m": "09005",
    "gustavo a madero": "09005",
    "gustavo madero": "09005",
    "magdalena contreras": "09008",
    "m contreras": "09008",
    "cuajimalpa": "09004",
    "v carranza": "09017",
}
_ALCALDIA_PREFIXES = ("alcaldia ", "delegacion ", "deleg ", "del ")


@dataclass(frozen=True)
class Alcaldias:
    """The alcaldías to read names and INEGI codes against: name by code, code by name key."""

    names: dict[str, str]
    codes_by_key: dict[str, str]

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str, Iterable[str]]]) -> Alcaldias:
        """From (cvegeo, name, short names) rows."""
        names: dict[str, str] = {}
        codes_by_key: dict[str, str] = {}
        for code, name, short_names in rows:
            names[code] = name
            for alias in (name, *(short_names or ())):
                codes_by_key[key(alias)] = code
        for alias, code in ALCALDIA_ALIASES.items():
            if code in names:
                codes_by_key.setdefault(alias, code)
        return cls(names=names, codes_by_key=codes_by_key)


def alcaldia(value: str, alcaldias: Alcaldias) -> str:
    """The alcaldía's INEGI code from its name (any case, with or without accents, short forms such
    as GAM or Cuajimalpa) or its code: ``09007``, ``9007``, ``07`` or ``7``."""
    raw = text(value)
    if raw.isascii() and raw.isdigit():
        number = int(raw)
        code = f"090{number:02d}" if number < 100 else f"0{number}"
        if code in alcaldias.names:
            return code
        raise Invalid(
            _("La clave «%(value)s» no es de una alcaldía de la Ciudad de México (09002 a 09017, o 2 a 17).") % {"value": raw}
        )
    wanted = key(raw)
    code = alcaldias.codes_by_key.get(wanted)
    for prefix in _ALCALDIA_PREFIXES:
        if code is None and wanted.startswith(prefix):
            code = alcaldias.codes_by_key.get(wanted.removeprefix(prefix))
    if code is not None:
        return code
    candidates = {name_key: alcaldias.names[found] for name_key, found in alcaldias.codes_by_key.items()}
    raise Invalid(
        _("La alcaldía «%(value)s» no existe en la Ciudad de México.") % {"value": raw} + _suggestion(wanted, candidates)
    )


# --- Colonias --------------------------------------------------------------------------------------------
_COLONIA_KIND_WORDS = ("colonia ", "col ", "pueblo ", "pblo ", "barrio ", "bo ")
_TRAILING_PARENTHESIS = re.compile(r"\s*\([^()]*\)\s*$")
# Suggestions cost a fuzzy match against the alcaldía's colonias: only for the first misses of a
# catalogue loaded for one import (a file of 62,700 unknown colonias must not take minutes).
SUGGESTIONS_PER_RUN = 200


def _colonia_keys(name: str) -> tuple[str, set[str]]:
    """A colonia's key and its other keys: without a trailing «(…)» and without a leading kind word."""
    primary = key(name)
    others = {key(_TRAILING_PARENTHESIS.sub("", name))}
    for candidate in (primary, *others):
        for word in _COLONIA_KIND_WORDS:
            if candidate.startswith(word):
                others.add(candidate.removeprefix(word))
    others.discard(primary)
    others.discard("")
    return primary, others


@dataclass
class Colonias:
    """The colonias of every alcaldía, by (cvegeo, key); a key shared by two colonias is ambiguous."""

    by_key: dict[tuple[str, str], set[int]]
    by_other_key: dict[tuple[str, str], set[int]]
    names: dict[int, str]
    keys_by_alcaldia: dict[str, dict[str, str]]  # cvegeo → key → name, for suggestions
    suggestions_left: int = field(default=SUGGESTIONS_PER_RUN, compare=False)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str, str]]) -> Colonias:
        """From (id, cvegeo, name) rows."""
        by_key: dict[tuple[str, str], set[int]] = defaultdict(set)
        by_other_key: dict[tuple[str, str], set[int]] = defaultdict(set)
        names: dict[int, str] = {}
        keys_by_alcaldia: dict[str, dict[str, str]] = defaultdict(dict)
        for pk, code, name in rows:
            names[pk] = name
            primary, others = _colonia_keys(name)
            by_key[code, primary].add(pk)
            keys_by_alcaldia[code][primary] = name
            for other in others:
                by_other_key[code, other].add(pk)
        return cls(dict(by_key), dict(by_other_key), names, dict(keys_by_alcaldia))

    def _find(self, code: str, wanted: str) -> set[int]:
        return self.by_key.get((code, wanted)) or self.by_other_key.get((code, wanted)) or set()


def colonia(value: str, code: str, colonias: Colonias, alcaldia_name: str) -> int:
    """The id of the colonia of that name (any case, with or without accents) in that alcaldía."""
    raw = text(value)
    wanted = key(raw)
    found = colonias._find(code, wanted)
    if not found:
        for word in _COLONIA_KIND_WORDS:
            if wanted.startswith(word):
                found = colonias._find(code, wanted.removeprefix(word))
                break
    if len(found) == 1:
        return next(iter(found))
    if found:
        listed = ", ".join(f"«{colonias.names[pk]}»" for pk in sorted(found))
        raise Invalid(
            _("La colonia «%(value)s» coincide con varias colonias de la alcaldía %(alcaldia)s: %(names)s.")
            % {"value": raw, "alcaldia": alcaldia_name, "names": listed}
        )
    message = _("La colonia «%(value)s» no existe en la alcaldía %(alcaldia)s.") % {"value": raw, "alcaldia": alcaldia_name}
    if colonias.suggestions_left > 0:
        colonias.suggestions_left -= 1
        message += _suggestion(wanted, colonias.keys_by_alcaldia.get(code, {}))
    raise Invalid(message)


# --- Small vocabularies ------------------------------------------------------------------------------------
_SEXES = {
    "h": ApplicantSex.MAN,
    "hombre": ApplicantSex.MAN,
    "masculino": ApplicantSex.MAN,
    "m": ApplicantSex.WOMAN,
    "mujer": ApplicantSex.WOMAN,
    "f": ApplicantSex.WOMAN,
    "femenino": ApplicantSex.WOMAN,
    "x": ApplicantSex.NON_BINARY,
    "no binario": ApplicantSex.NON_BINARY,
}
_YES = frozenset({"si", "s", "1", "x", "verdadero", "true"})
_NO = frozenset({"no", "n", "0", "falso", "false"})
with translation.override(None):  # the labels' msgids, in Spanish, whatever language is active
    _ROOF_LABELS = {key(str(choice.label)): choice.value for choice in RoofMaterial}
    _MODALITY_LABELS = {key(str(choice.label)): choice.value for choice in Modality}
_ROOF_MATERIALS = {key(choice.value): choice.value for choice in RoofMaterial} | _ROOF_LABELS
_ROOF_MATERIALS |= {
    "losa": RoofMaterial.CONCRETE,
    "losa concreto": RoofMaterial.CONCRETE,
    "concreto armado": RoofMaterial.CONCRETE,
    "lamina metal": RoofMaterial.METAL_SHEET,
    "lamina de metal": RoofMaterial.METAL_SHEET,
    "lamina galvanizada": RoofMaterial.METAL_SHEET,
    "lamina de plastico": RoofMaterial.PLASTIC_SHEET,
    "lamina de fibrocemento": RoofMaterial.FIBER_CEMENT,
    "lamina de asbesto": RoofMaterial.ASBESTOS,
    "carton": RoofMaterial.CARDBOARD,
    "otros": RoofMaterial.OTHER,
}
_MODALITIES = {key(choice.value): choice.value for choice in Modality} | _MODALITY_LABELS
_MODALITIES |= {
    "total": Modality.TOTAL_SUBSIDY,
    "100": Modality.TOTAL_SUBSIDY,
    "parcial": Modality.PARTIAL_SUBSIDY,
    "subsidio parcial": Modality.PARTIAL_SUBSIDY,
    "parcial 50": Modality.PARTIAL_SUBSIDY,
    "50": Modality.PARTIAL_SUBSIDY,
}


def sex(value: str) -> str:
    """An ``ApplicantSex`` value from H, Hombre, M, Mujer, F (mujer), X or «No binario»."""
    found = _SEXES.get(key(text(value)))
    if found is None:
        raise Invalid(_("El sexo «%(value)s» no se reconoce; use H (hombre), M o F (mujer), o X.") % {"value": text(value)})
    return str(found)


def yes_no(value: str, *, default: bool = False) -> bool:
    """Sí/Si/S/X/1 → True, No/N/0 → False, blank → ``default``."""
    raw = text(value)
    if not raw:
        return default
    wanted = key(raw)
    if wanted in _YES:
        return True
    if wanted in _NO:
        return False
    raise Invalid(_("«%(value)s» no es sí ni no; use Sí, No, 1, 0 o X.") % {"value": raw})


def roof_material(value: str) -> str:
    """A ``RoofMaterial`` value from its value, its label or a usual name («losa», «lámina metálica»)."""
    found = _ROOF_MATERIALS.get(key(text(value)))
    if found is None:
        choices = ", ".join(sorted(_ROOF_LABELS))
        raise Invalid(
            _("El material de techo «%(value)s» no se reconoce; use: %(choices)s.") % {"value": text(value), "choices": choices}
        )
    return str(found)


def modality(value: str) -> str:
    """A ``Modality`` value from «total», «subsidio total», «parcial», «subsidio parcial (50 %)»…"""
    found = _MODALITIES.get(key(text(value)))
    if found is None:
        raise Invalid(
            _("La modalidad «%(value)s» no se reconoce; use «subsidio total» o «subsidio parcial».") % {"value": text(value)}
        )
    return str(found)


# --- Dates -----------------------------------------------------------------------------------------------------
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?: ?[ap]\.? ?m\.?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME, re.IGNORECASE | re.ASCII)
_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{1,4})" + _TIME, re.IGNORECASE | re.ASCII)
_SERIAL = re.compile(r"(\d{1,5})(?:[.,]\d+)?", re.ASCII)


def excel_serial_date(serial: int, *, date1904: bool = False) -> date:
    """The day an Excel serial number stands for (the 1900 system unless the workbook says 1904)."""
    if date1904:
        return EXCEL_1904_EPOCH + timedelta(days=serial)
    if serial < 61:  # Excel counts a 29 February 1900 that never was; no program date is that old
        raise Invalid(_("El número %(value)s no es una fecha de Excel posible.") % {"value": serial})
    return EXCEL_EPOCH + timedelta(days=serial)


def parse_date(value: str) -> date:
    """A date written DD/MM/YYYY, D/M/YYYY, YYYY-MM-DD (a time after it is ignored) or as an Excel serial."""
    raw = text(value)
    if match := _YMD.fullmatch(raw):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DMY.fullmatch(raw):
        day, month, year = (int(part) for part in match.groups())
        if len(match[3]) != 4:
            raise Invalid(_("En la fecha «%(value)s» escriba el año con cuatro dígitos.") % {"value": raw})
    elif match := _SERIAL.fullmatch(raw):
        return excel_serial_date(int(match[1]))
    else:
        raise Invalid(_("La fecha «%(value)s» no se reconoce; use DD/MM/AAAA o AAAA-MM-DD.") % {"value": raw})
    try:
        return date(year, month, day)
    except ValueError:
        raise Invalid(_("La fecha «%(value)s» no existe.") % {"value": raw}) from None


def date_shown(raw: str, day: date) -> str:
    """A date as DD/MM/AAAA, after the cell's own text when that was an Excel serial («44927» (01/01/2023))."""
    shown = day.strftime("%d/%m/%Y")
    return f"«{raw}» ({shown})" if _SERIAL.fullmatch(raw) else shown


def installation_date(value: str, *, today: date) -> date:
    """An installation date: a real date, not before the program began and not after today."""
    installed_on = parse_date(value)
    if installed_on > today:
        raise Invalid(_("La fecha de instalación %(date)s es posterior a hoy.") % {"date": date_shown(text(value), installed_on)})
    if installed_on < PROGRAM_START:
        raise Invalid(
            _("La fecha de instalación %(date)s es anterior al inicio del programa (%(start)s).")
            % {"date": date_shown(text(value), installed_on), "start": PROGRAM_START.year}
        )
    return installed_on


# --- Numbers -------------------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"([+-]?)(\d*)(?:([.,])(\d*))?")
_GROUPED_BY_SPACES = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:[.,]\d+)?", re.ASCII)
_DIGITS_AND_SEPARATORS = re.compile(r"[+-]?[\d.,]*\d[\d.,]*", re.ASCII)


def decimal(value: str) -> Decimal:
    """A number with a decimal point or a decimal comma (see the module's note on separators)."""
    raw = text(value)
    digits = raw.replace(" ", "") if " " in raw and _GROUPED_BY_SPACES.fullmatch(raw) else raw
    match = _NUMBER.fullmatch(digits) if digits.isascii() else None
    if match is None or not (match[2] or match[4]):
        if _DIGITS_AND_SEPARATORS.fullmatch(digits):
            raise Invalid(
                _("El número «%(value)s» lleva separador de miles; escríbalo sin él, con punto o coma decimal (1234.5).")
                % {"value": raw}
            )
        raise Invalid(_("«%(value)s» no es un número.") % {"value": raw})
    sign, whole, separator, fraction = match.groups()
    if separator == "," and len(fraction) == 3 and whole.strip("0"):
        raise Invalid(
            _("El número «%(value)s» es ambiguo (¿%(decimal)s o %(thousands)s?); escriba los miles sin separador.")
            % {"value": raw, "decimal": f"{sign}{whole}.{fraction}", "thousands": f"{sign}{whole}{fraction}"}
        )
    return Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")


def positive_decimal(value: str, *, places: int = 2, maximum: Decimal = MAX_ROOF_AREA_M2) -> Decimal:
    """A number above zero, rounded half up to ``places`` decimals, at most ``maximum``."""
    number = decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if number <= 0:
        raise Invalid(_("Debe ser mayor que cero."))
    if number > maximum:
        raise Invalid(_("El valor %(value)s es demasiado grande (máximo %(max)s).") % {"value": number, "max": maximum})
    return number


def positive_int(value: str, *, maximum: int = MAX_TANK_LITRES) -> int:
    """A whole number above zero (``2500``, or ``2500.0`` as spreadsheets export it), at most ``maximum``."""
    number = decimal(value)
    if number != number.to_integral_value():
        raise Invalid(_("«%(value)s» debe ser un número entero, sin decimales ni separador de miles.") % {"value": text(value)})
    if number <= 0:
        raise Invalid(_("Debe ser mayor que cero."))
    if number > maximum:
        raise Invalid(_("El valor %(value)s es demasiado grande (máximo %(max)s).") % {"value": int(number), "max": maximum})
    return int(number)


def year(value: str) -> int:
    """A program year: four digits (``2021``, or ``2021.0`` from a spreadsheet)."""
    number = decimal(value)
    if number != number.to_integral_value() or not 1000 <= number <= 9999:
        raise Invalid(_("«%(value)s» no es un año.") % {"value": text(value)})
    return int(number)


_COORDINATE_PLACES = Decimal("0.000001")
# A coordinate as a GPS or a spreadsheet writes it; «19,432» (comma and three digits) is left to ``decimal``.
_PLAIN_COORDINATE = re.compile(r"\s*(-?\d{1,3}(?:\.\d+|,\d{1,2}|,\d{4,}))\s*", re.ASCII)


def coordinates(latitude: str, longitude: str) -> tuple[Decimal | None, Decimal | None]:
    """Latitude and longitude inside Mexico City, both or neither; 6 decimals.

    Raises ``InvalidColumns`` with one message per wrong column (``latitud``, ``longitud``).
    """
    if (lat_match := _PLAIN_COORDINATE.fullmatch(latitude)) and (lon_match := _PLAIN_COORDINATE.fullmatch(longitude)):
        # The usual case, decided without the general reading: digits, one point or comma, digits.
        lat = Decimal(lat_match[1].replace(",", ".")).quantize(_COORDINATE_PLACES, rounding=ROUND_HALF_UP)
        lon = Decimal(lon_match[1].replace(",", ".")).quantize(_COORDINATE_PLACES, rounding=ROUND_HALF_UP)
        if CDMX_LATITUDE_RANGE[0] <= lat <= CDMX_LATITUDE_RANGE[1] and CDMX_LONGITUDE_RANGE[0] <= lon <= CDMX_LONGITUDE_RANGE[1]:
            return lat, lon
    errors: dict[str, str] = {}
    numbers: dict[str, Decimal] = {}
    given = {"latitud": latitude, "longitud": longitude}
    if (not latitude or latitude.isspace()) and (not longitude or longitude.isspace()):
        return None, None
    for column, value in given.items():
        try:
            if not text(value):
                raise Invalid(_("Capture latitud y longitud juntas, o ninguna."))
            numbers[column] = decimal(value).quantize(_COORDINATE_PLACES, rounding=ROUND_HALF_UP)
        except Invalid as error:
            errors[column] = error.message
    lat, lon = numbers.get("latitud"), numbers.get("longitud")
    lat_low, lat_high = CDMX_LATITUDE_RANGE
    lon_low, lon_high = CDMX_LONGITUDE_RANGE
    if lat is not None and lon is not None and lon_low <= lat <= lon_high and lat_low <= lon <= lat_high:
        errors["latitud"] = _("La latitud y la longitud parecen intercambiadas.")
    else:
        if lat is not None and not lat_low <= lat <= lat_high:
            errors["latitud"] = _("La latitud %(value)s queda fuera de la Ciudad de México (%(low)s a %(high)s).") % {
                "value": lat.normalize(),
                "low": lat_low,
                "high": lat_high,
            }
        if lon is not None and not lon_low <= lon <= lon_high:
            errors["longitud"] = _("La longitud %(value)s queda fuera de la Ciudad de México (%(low)s a %(high)s).") % {
                "value": lon.normalize(),
                "low": lon_low,
                "high": lon_high,
            }
    if errors:
        raise InvalidColumns(errors)
    return lat, lon


# --- Personal identifiers ----------------------------------------------------------------------------------------
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")


def curp(value: str) -> str:
    """A CURP in capitals without spaces, checked with the project's validator (format, date, state,
    check digit). The birth date it encodes is ``curp_birth_date``: 17th character a digit → 19xx,
    a letter → 20xx (RENAPO)."""
    raw = "".join(value.split()).upper()
    if not raw.isascii():
        raw = _INVISIBLE.sub("", raw)
    try:
        validate_curp(raw)
    except ValidationError as error:
        raise Invalid(error.messages[0]) from None
    return raw


def curp_sex(valid_curp: str) -> str:
    """The sex a CURP records (its 11th character: H, M or X), as an ``ApplicantSex`` value."""
    return valid_curp[10]


def birth_date(valid_curp: str, *, today: date) -> date:
    born_on = curp_birth_date(valid_curp)
    if born_on > today:
        raise Invalid(_("La CURP indica una fecha de nacimiento futura."))
    return born_on


def phone(value: str) -> str:
    """Ten digits, once spaces, dashes, dots, parentheses and a leading +52 are taken out; blank allowed."""
    digits = "".join(value.split()).translate(_PHONE_PUNCTUATION)
    if digits.startswith("+52"):
        digits = digits[3:]
    if not digits or (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        return digits
    raise Invalid(_("El teléfono debe tener 10 dígitos."))


def postal_code(value: str) -> str:
    """Five digits; four are taken as a code whose leading zero the spreadsheet dropped (1000 → 01000)."""
    digits = text(value).replace(" ", "")
    if not digits or (len(digits) in (4, 5) and digits.isascii() and digits.isdigit()):
        return digits.zfill(5) if digits else ""
    raise Invalid(_("El código postal «%(value)s» debe tener 5 dígitos.") % {"value": text(value)})
