"""The CURP check, the folio's check symbol and the verification code."""

import itertools
import math
import random
import re
import string
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from localflavor.mx.forms import CURP_INCONVENIENT_WORDS, MXCURPField

from installations.identifiers import (
    CURP_STATES,
    FOLIO_ALPHABET,
    FOLIO_BASE,
    FOLIO_LENGTH,
    FOLIO_RANDOM_SYMBOLS,
    curp_birth_date,
    curp_check_digit,
    folio_check_symbol,
    folio_display,
    folio_generate,
    folio_is_valid,
    folio_normalize,
    validate_curp,
    verification_code_generate,
    verification_code_hash,
    verification_code_matches,
)
from tests.factories import make_curp

# RENAPO's check digit for GOMA850101HDFRRN0 is 0 (python-stdnum and localflavor agree).
VALID_CURP = "GOMA850101HDFRRN00"


def with_check_digit(first_17: str) -> str:
    return first_17 + str(curp_check_digit(first_17))


def refusal_code(value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_curp(value)
    return caught.value.code


# --- CURP ----------------------------------------------------------------------------------------------
def test_a_well_formed_curp_with_its_check_digit_is_accepted():
    validate_curp(VALID_CURP)

    assert curp_birth_date(VALID_CURP) == date(1985, 1, 1)


def test_a_curp_with_a_wrong_check_digit_is_refused():
    for wrong in set("0123456789") - {VALID_CURP[-1]}:
        assert refusal_code(VALID_CURP[:17] + wrong) == "curp_check_digit"


def test_goma850101hdfrrn05_fails_its_check_digit():
    assert refusal_code("GOMA850101HDFRRN05") == "curp_check_digit"


@pytest.mark.parametrize("value", ["", VALID_CURP[:17], VALID_CURP + "0", "GOMA"])
def test_a_curp_that_is_not_18_characters_long_is_refused(value):
    assert refusal_code(value) == "curp_length"


@pytest.mark.parametrize(
    "first_17",
    [
        "GOMA851301HDFRRN0",  # month 13
        "GOMA850230HDFRRN0",  # 30 February
        "GOMA850229HDFRRN0",  # 29 February 1985
        "GOMA000229HDFRRN0",  # 29 February 1900: a digit in position 17 means born before 2000
        "GOMA850100HDFRRN0",  # day 0
    ],
)
def test_a_curp_with_an_impossible_birth_date_is_refused(first_17):
    assert refusal_code(with_check_digit(first_17)) == "curp_date"


def test_29_february_2000_is_a_real_birth_date():
    curp = with_check_digit("GOMA000229HDFRRNA")

    validate_curp(curp)

    assert curp_birth_date(curp) == date(2000, 2, 29)


@pytest.mark.parametrize("state", ["ZZ", "DD", "MX", "XX"])
def test_a_curp_with_a_state_that_does_not_exist_is_refused(state):
    assert refusal_code(with_check_digit(f"GOMA850101H{state}RRN0")) == "curp_state"


@pytest.mark.parametrize(
    "first_17",
    [
        "GBMA850101HDFRRN0",  # second letter is not a vowel
        "G0MA850101HDFRRN0",  # a digit among the name letters
        "GOMA850101ZDFRRN0",  # sex neither H, M nor X
        "GOMA850101HDFRAN0",  # a vowel among the inner consonants
        "GOMA8501O1HDFRRN0",  # letter O in the date
        "GOMA850101HDFRRN-",  # position 17 neither digit nor letter
    ],
)
def test_a_curp_that_breaks_the_official_pattern_is_refused(first_17):
    curp = first_17 + "0"

    assert refusal_code(curp) == "curp_format"


def test_a_non_binary_curp_with_sex_x_is_accepted():
    validate_curp(with_check_digit("GOMA850101XDFRRN0"))


def test_a_curp_born_abroad_is_accepted():
    validate_curp(with_check_digit("GOMA850101HNERRN0"))


def test_a_curp_is_read_upper_case_and_without_surrounding_spaces():
    validate_curp(VALID_CURP.lower())
    validate_curp(f"  {VALID_CURP}\n")
    validate_curp("Goma850101hDfRrN00")


def test_spaces_inside_a_curp_are_not_forgiven():
    assert refusal_code(f"{VALID_CURP[:4]} {VALID_CURP[4:17]}") == "curp_format"


def test_the_factorys_curps_are_all_valid_and_distinct():
    curps = [make_curp(n) for n in range(2_000)]

    for curp in curps:
        validate_curp(curp)
    assert len(set(curps)) == len(curps)


@st.composite
def well_formed_curps(draw: st.DrawFn) -> str:
    """A CURP with a real date, state and pattern, and any digit at the end: right or wrong."""
    letters = st.sampled_from(string.ascii_uppercase)
    consonants = st.sampled_from("BCDFGHJKLMNPQRSTVWXYZ")
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2029, 12, 31)))
    names = draw(letters) + draw(st.sampled_from("AEIOUX")) + draw(letters) + draw(letters)
    assume(names not in CURP_INCONVENIENT_WORDS)  # localflavor refuses these words whatever the check digit
    century = draw(st.sampled_from(string.digits if born.year < 2000 else string.ascii_uppercase))
    body = (
        names
        + born.strftime("%y%m%d")
        + draw(st.sampled_from("HM"))  # localflavor predates the X for non-binary people
        + draw(st.sampled_from(sorted(CURP_STATES)))
        + draw(consonants)
        + draw(consonants)
        + draw(consonants)
        + century
    )
    return body + draw(st.sampled_from(string.digits))


def is_accepted_by_harvest(curp: str) -> bool:
    try:
        validate_curp(curp)
    except ValidationError:
        return False
    return True


def is_accepted_by_localflavor(curp: str) -> bool:
    try:
        MXCURPField().clean(curp)
    except ValidationError:
        return False
    return True


@hypothesis_settings(max_examples=400, deadline=None)
@given(curp=well_formed_curps())
def test_harvest_and_localflavor_agree_on_every_well_formed_curp(curp):
    right_digit = curp[-1] == str(curp_check_digit(curp[:17]))

    assert is_accepted_by_harvest(curp) is right_digit
    assert is_accepted_by_localflavor(curp) is right_digit


# --- Folio ---------------------------------------------------------------------------------------------
def folio_value(folio: str) -> int:
    """The folio's random body read as a base-31 number."""
    value = 0
    for symbol in folio[:FOLIO_RANDOM_SYMBOLS]:
        value = value * FOLIO_BASE + FOLIO_ALPHABET.index(symbol)
    return value


SAMPLE_FOLIOS = [folio_generate(random.Random(seed)) for seed in range(25)] + [
    # Bodies with repeated symbols and the extremes of the alphabet.
    "00000000000" + folio_check_symbol("00000000000"),
    "ZZZZZZZZZZZ" + folio_check_symbol("ZZZZZZZZZZZ"),
    "0Z0Z0Z0Z0Z0" + folio_check_symbol("0Z0Z0Z0Z0Z0"),
]


def test_the_alphabet_is_31_distinct_unambiguous_symbols():
    assert len(FOLIO_ALPHABET) == len(set(FOLIO_ALPHABET)) == FOLIO_BASE == 31
    assert all(FOLIO_BASE % divisor for divisor in range(2, FOLIO_BASE))  # prime
    assert not set(FOLIO_ALPHABET) & set("ILOUV")


def test_generated_folios_are_twelve_valid_symbols_from_the_alphabet():
    for _ in range(2_000):
        folio = folio_generate()
        assert len(folio) == FOLIO_LENGTH == 12
        assert set(folio) <= set(FOLIO_ALPHABET)
        assert folio_is_valid(folio)


def test_ten_thousand_folios_are_all_different():
    folios = [folio_generate() for _ in range(10_000)]

    assert len(set(folios)) == 10_000


def test_folios_are_not_sequential():
    values = [folio_value(folio_generate()) for _ in range(1_000)]
    steps = [after - before for before, after in itertools.pairwise(values)]

    assert values != sorted(values)
    assert values != sorted(values, reverse=True)
    # 31¹¹ possible bodies: consecutive folios are far apart, not one or a few counts away.
    assert min(abs(step) for step in steps) > 1_000


def test_a_seeded_generator_gives_the_same_folios_for_demo_data():
    assert [folio_generate(random.Random(7)) for _ in range(3)] == [folio_generate(random.Random(7))] * 3


def test_a_folio_carries_at_least_50_bits_of_entropy():
    bits = FOLIO_RANDOM_SYMBOLS * math.log2(FOLIO_BASE)

    assert bits == pytest.approx(11 * math.log2(31))
    assert bits >= 50


@pytest.mark.parametrize("folio", SAMPLE_FOLIOS)
def test_the_check_symbol_catches_every_single_symbol_substitution(folio):
    assert folio_is_valid(folio)
    for position in range(FOLIO_LENGTH):
        for symbol in FOLIO_ALPHABET.replace(folio[position], ""):
            mistyped = folio[:position] + symbol + folio[position + 1 :]
            assert not folio_is_valid(mistyped), (folio, position, symbol)


@pytest.mark.parametrize("folio", [folio for folio in SAMPLE_FOLIOS if len(set(folio)) > 1])
def test_the_check_symbol_catches_every_swap_of_two_different_neighbours(folio):
    swaps = 0
    for position in range(FOLIO_LENGTH - 1):
        left, right = folio[position], folio[position + 1]
        if left == right:
            continue
        swapped = folio[:position] + right + left + folio[position + 2 :]
        assert not folio_is_valid(swapped), (folio, position)
        swaps += 1
    assert swaps > 0


@pytest.mark.parametrize(
    "value", ["", "ABC", "0" * 11, "0" * 13, "U" * 12, "V" * 12, "O" * 12, "a" * 12, "0000-0000-0000", "0000000000 0"]
)
def test_a_folio_that_is_not_12_alphabet_symbols_is_invalid(value):
    assert not folio_is_valid(value)


def test_twelve_zeros_is_a_valid_folio():
    assert folio_check_symbol("0" * 11) == "0"
    assert folio_is_valid("0" * 12)


def test_a_folio_is_displayed_in_three_groups_of_four():
    assert folio_display("ABCD1234EFGH") == "ABCD-1234-EFGH"


def test_a_folio_as_people_write_it_normalizes_to_the_canonical_form():
    # given a folio whose body contains zeros and ones
    body = "01A0B1C2D3E"
    folio = body + folio_check_symbol(body)
    written = folio_display(folio).lower()
    # when / then
    assert folio_normalize(written) == folio
    assert folio_normalize(written.replace("-", " ")) == folio
    assert folio_normalize(f"  {written.replace('0', 'o').replace('1', 'i')}  ") == folio
    assert folio_normalize(folio_display(folio).replace("0", "O").replace("1", "L")) == folio
    assert folio_normalize(folio_display(folio).replace("1", "l").replace("-", " - ")) == folio
    assert folio_is_valid(folio_normalize(written))


def test_normalizing_a_canonical_folio_changes_nothing():
    folio = folio_generate()

    assert folio_normalize(folio) == folio
    assert folio_normalize(folio_display(folio)) == folio


def test_normalizing_nothing_gives_an_empty_folio():
    assert folio_normalize("") == ""


# --- Verification code ----------------------------------------------------------------------------------
def test_a_verification_code_is_always_six_digits_with_leading_zeros():
    rng = random.Random(7)

    codes = [verification_code_generate(rng) for _ in range(2_000)] + [verification_code_generate() for _ in range(200)]

    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert any(code.startswith("0") for code in codes)


def test_only_a_keyed_hash_of_the_code_is_stored_and_it_is_not_the_code():
    code = "012345"

    stored = verification_code_hash(code)

    assert stored != code
    assert code not in stored
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert stored == verification_code_hash(code)
    assert stored != verification_code_hash("012346")


def test_the_hash_depends_on_the_secret_key(settings):
    code = "654321"
    stored = verification_code_hash(code)

    settings.HARVEST_CODE_HASH_KEY = "another-key"

    assert verification_code_hash(code) != stored


def test_the_right_code_matches_its_hash():
    stored = verification_code_hash("482913")

    assert verification_code_matches("482913", stored)
    assert verification_code_matches(" 482913 ", stored)


@pytest.mark.parametrize("attempt", ["482914", "48291", "4829130", "", "000000"])
def test_a_wrong_code_does_not_match(attempt):
    assert not verification_code_matches(attempt, verification_code_hash("482913"))
