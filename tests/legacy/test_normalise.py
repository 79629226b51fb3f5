"""Every rule for reading values the way the offices write them: one parametrised case per form."""

from datetime import date
from decimal import Decimal

import pytest

from legacy import normalise
from legacy.normalise import Invalid, InvalidColumns
from tests.factories import make_curp
from tests.legacy.files import COLONIAS, alcaldia_rows

TODAY = date(2024, 6, 1)
ALCALDIAS = normalise.Alcaldias.build(alcaldia_rows())


def refusal(function, *args, **kwargs) -> str:
    with pytest.raises(Invalid) as caught:
        function(*args, **kwargs)
    return caught.value.message


# --- Text and keys -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("  Calle   Tláloc  5 ", "Calle Tláloc 5"),
        ("Calle\tTláloc\n5", "Calle Tláloc 5"),
        ("Calle\xa0Tláloc\u202f5", "Calle Tláloc 5"),
        ("Calle\u200b Tláloc\ufeff", "Calle Tláloc"),
        ("", ""),
        (None, ""),
        ("   ", ""),
        ("http://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/"),
        ('=HYPERLINK("http://example.com")', '=HYPERLINK("http://example.com")'),
    ],
)
def test_text_strips_and_collapses_spaces(written, read):
    assert normalise.text(written) == read


@pytest.mark.parametrize("shown", ["#N/A", "#N/D", "#¡VALOR!", "#VALUE!", "#REF!", "#DIV/0!", " #n/a "])
def test_a_cell_showing_an_excel_error_is_refused(shown):
    assert "error de Excel" in refusal(normalise.text, shown)


def test_a_hash_that_is_not_an_excel_error_is_text():
    assert normalise.text("#23 interior 4") == "#23 interior 4"


def test_bounded_text_names_the_length():
    assert normalise.bounded_text("x" * 40, 40) == "x" * 40
    assert refusal(normalise.bounded_text, "x" * 41, 40) == "El texto tiene 41 caracteres; el máximo es 40."


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("Gustavo A. Madero", "gustavo a madero"),
        ("GUSTAVO  A MADERO", "gustavo a madero"),
        ("Álvaro Obregón", "alvaro obregon"),
        ("Alvaro_Obregon", "alvaro obregon"),
        ("Peña Pobre", "pena pobre"),
        ("Pen\u0303a Pobre", "pena pobre"),  # decomposed (NFD), as macOS writes it
        ("Superficie techo (m²)", "superficie techo m2"),
        ("1a. Sección", "1a seccion"),
        ("San Juan—Xalpa", "san juan xalpa"),
    ],
)
def test_key_ignores_case_accents_punctuation_and_spacing(written, key):
    assert normalise.key(written) == key


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("fecha_instalacion", "fechainstalacion"),
        ("Fecha de instalación", "fechainstalacion"),
        ("FECHA  INSTALACIÓN", "fechainstalacion"),
        ("anio_programa", "anoprograma"),
        ("Año del programa", "anoprograma"),
        ("Superficie del techo (m²)", "superficietechom2"),
        ("superficie_techo_m2", "superficietechom2"),
        ("Calle y número", "callenumero"),
    ],
)
def test_header_key_ignores_case_accents_spacing_and_little_words(header, key):
    assert normalise.header_key(header) == key


# --- Alcaldías -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("Iztapalapa", "09007"),
        ("IZTAPALAPA", "09007"),
        (" iztapalapa ", "09007"),
        ("Tláhuac", "09011"),
        ("Tlahuac", "09011"),
        ("ALVARO OBREGON", "09010"),
        ("Cuauhtémoc", "09015"),
        ("GAM", "09005"),
        ("G.A.M.", "09005"),
        ("Gustavo A. Madero", "09005"),
        ("Gustavo A Madero", "09005"),
        ("Magdalena Contreras", "09008"),
        ("La Magdalena Contreras", "09008"),
        ("Cuajimalpa", "09004"),
        ("Cuajimalpa de Morelos", "09004"),
        ("Milpa Alta", "09009"),
        ("milpa alta", "09009"),
        ("Alcaldía Tlalpan", "09012"),
        ("Delegación Tlalpan", "09012"),
        ("09007", "09007"),
        ("9007", "09007"),
        ("07", "09007"),
        ("7", "09007"),
        ("2", "09002"),
        ("17", "09017"),
    ],
)
def test_alcaldia_by_name_short_form_or_inegi_code(written, code):
    assert normalise.alcaldia(written, ALCALDIAS) == code


def test_short_forms_work_without_the_catalogue_short_names():
    bare = normalise.Alcaldias.build([(code, name, []) for code, name, _short in alcaldia_rows()])

    assert normalise.alcaldia("GAM", bare) == "09005"
    assert normalise.alcaldia("Magdalena Contreras", bare) == "09008"
    assert normalise.alcaldia("Cuajimalpa", bare) == "09004"


@pytest.mark.parametrize("code", ["1", "18", "09001", "09018", "15000"])
def test_a_number_that_is_no_alcaldia_code_is_refused(code):
    assert "no es de una alcaldía de la Ciudad de México" in refusal(normalise.alcaldia, code, ALCALDIAS)


def test_an_unknown_alcaldia_is_refused_with_a_suggestion():
    assert refusal(normalise.alcaldia, "Iztapalpa", ALCALDIAS) == (
        "La alcaldía «Iztapalpa» no existe en la Ciudad de México. ¿Quiso decir «Iztapalapa»?"
    )
    assert refusal(normalise.alcaldia, "Ecatepec", ALCALDIAS) == "La alcaldía «Ecatepec» no existe en la Ciudad de México."


# --- Colonias ---------------------------------------------------------------------------------------------------
@pytest.fixture
def colonias() -> normalise.Colonias:
    return normalise.Colonias.build(COLONIAS)


@pytest.mark.parametrize(
    ("written", "code", "pk"),
    [
        ("Tlalpan Centro", "09012", 1),
        ("TLALPAN CENTRO", "09012", 1),
        ("tlalpan  centro ", "09012", 1),
        ("Col. Tlalpan Centro", "09012", 1),
        ("Colonia Tlalpan Centro", "09012", 1),
        ("Pedregal de San Nicolas 1A Seccion", "09012", 2),
        ("Villa Milpa Alta (Pblo)", "09009", 3),
        ("Villa Milpa Alta", "09009", 3),
        ("Pueblo Villa Milpa Alta", "09009", 3),
        ("San Jeronimo Lidice", "09008", 6),
    ],
)
def test_colonia_by_name_within_its_alcaldia(colonias, written, code, pk):
    assert normalise.colonia(written, code, colonias, "X") == pk


def test_a_colonia_of_another_alcaldia_is_not_found(colonias):
    assert refusal(normalise.colonia, "Tlalpan Centro", "09007", colonias, "Iztapalapa") == (
        "La colonia «Tlalpan Centro» no existe en la alcaldía Iztapalapa."
    )


def test_a_misspelt_colonia_gets_a_suggestion(colonias):
    assert refusal(normalise.colonia, "Tlalpan Cento", "09012", colonias, "Tlalpan") == (
        "La colonia «Tlalpan Cento» no existe en la alcaldía Tlalpan. ¿Quiso decir «Tlalpan Centro»?"
    )


def test_suggestions_stop_after_the_first_misses_of_a_run(colonias):
    colonias.suggestions_left = 1
    refusal(normalise.colonia, "Tlalpan Cento", "09012", colonias, "Tlalpan")

    assert "Quiso decir" not in refusal(normalise.colonia, "Tlalpan Centr", "09012", colonias, "Tlalpan")


def test_two_colonias_with_the_same_key_are_ambiguous(colonias):
    assert refusal(normalise.colonia, "San Miguel Teotongo", "09007", colonias, "Iztapalapa") == (
        "La colonia «San Miguel Teotongo» coincide con varias colonias de la alcaldía Iztapalapa: "
        "«San Miguel Teotongo», «SAN MIGUEL TEOTONGO»."
    )


# --- Small vocabularies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("H", "H"),
        ("h", "H"),
        ("Hombre", "H"),
        ("HOMBRE", "H"),
        ("Masculino", "H"),
        ("M", "M"),
        ("Mujer", "M"),
        (" mujer ", "M"),
        ("F", "M"),
        ("Femenino", "M"),
        ("X", "X"),
        ("No binario", "X"),
    ],
)
def test_sex(written, value):
    assert normalise.sex(written) == value


def test_an_unknown_sex_is_refused():
    assert refusal(normalise.sex, "Otro") == "El sexo «Otro» no se reconoce; use H (hombre), M o F (mujer), o X."


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("Sí", True),
        ("SI", True),
        ("si", True),
        ("S", True),
        ("1", True),
        ("X", True),
        ("x", True),
        ("Verdadero", True),
        ("No", False),
        ("NO", False),
        ("N", False),
        ("0", False),
        ("Falso", False),
        ("", False),
        ("  ", False),
    ],
)
def test_yes_no(written, value):
    assert normalise.yes_no(written) is value


def test_yes_no_blank_takes_the_default_and_nonsense_is_refused():
    assert normalise.yes_no("", default=True) is True
    assert refusal(normalise.yes_no, "Tal vez") == "«Tal vez» no es sí ni no; use Sí, No, 1, 0 o X."


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("Losa de concreto", "concreto"),
        ("concreto", "concreto"),
        ("CONCRETO", "concreto"),
        ("losa", "concreto"),
        ("Lámina metálica", "lamina_metalica"),
        ("lamina metalica", "lamina_metalica"),
        ("lamina_metalica", "lamina_metalica"),
        ("Lámina plástica", "lamina_plastica"),
        ("Fibrocemento", "fibrocemento"),
        ("Asbesto", "asbesto"),
        ("Lámina de asbesto", "asbesto"),
        ("Lámina de cartón", "carton"),
        ("carton", "carton"),
        ("Otro", "otro"),
    ],
)
def test_roof_material_by_label_value_or_usual_name(written, value):
    assert normalise.roof_material(written) == value


def test_an_unknown_roof_material_is_refused_with_the_choices():
    message = refusal(normalise.roof_material, "Teja")

    assert message.startswith("El material de techo «Teja» no se reconoce; use: ")
    assert "losa de concreto" in message


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("total", "total_subsidy"),
        ("Subsidio total", "total_subsidy"),
        ("SUBSIDIO TOTAL", "total_subsidy"),
        ("total_subsidy", "total_subsidy"),
        ("parcial", "partial_subsidy_50"),
        ("Subsidio parcial", "partial_subsidy_50"),
        ("Subsidio parcial (50 %)", "partial_subsidy_50"),
        ("partial_subsidy_50", "partial_subsidy_50"),
    ],
)
def test_modality(written, value):
    assert normalise.modality(written) == value


def test_an_unknown_modality_is_refused():
    assert refusal(normalise.modality, "beca") == "La modalidad «beca» no se reconoce; use «subsidio total» o «subsidio parcial»."


# --- Dates -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("15/05/2021", date(2021, 5, 15)),
        ("5/3/2021", date(2021, 3, 5)),
        ("05-03-2021", date(2021, 3, 5)),
        ("05.03.2021", date(2021, 3, 5)),
        ("2021-03-05", date(2021, 3, 5)),
        ("2021-3-5", date(2021, 3, 5)),
        ("2021-03-05 00:00:00", date(2021, 3, 5)),
        ("2021-03-05T00:00:00", date(2021, 3, 5)),
        ("05/03/2021 12:30", date(2021, 3, 5)),
        ("44927", date(2023, 1, 1)),
        ("44927.0", date(2023, 1, 1)),
        ("44927,5", date(2023, 1, 1)),
        ("43466", date(2019, 1, 1)),
        (" 15/05/2021 ", date(2021, 5, 15)),
    ],
)
def test_dates_day_first_iso_or_excel_serial(written, day):
    assert normalise.parse_date(written) == day


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("31/02/2023", "La fecha «31/02/2023» no existe."),
        ("29/02/2023", "La fecha «29/02/2023» no existe."),
        ("05/15/2021", "La fecha «05/15/2021» no existe."),  # day first: there is no month 15
        ("2023-13-01", "La fecha «2023-13-01» no existe."),
        ("5/3/21", "En la fecha «5/3/21» escriba el año con cuatro dígitos."),
        ("mayo 2021", "La fecha «mayo 2021» no se reconoce; use DD/MM/AAAA o AAAA-MM-DD."),
        ("20210305", "La fecha «20210305» no se reconoce; use DD/MM/AAAA o AAAA-MM-DD."),
        ("12", "El número 12 no es una fecha de Excel posible."),
    ],
)
def test_impossible_or_unreadable_dates_are_refused(written, message):
    assert refusal(normalise.parse_date, written) == message


def test_29_february_of_a_leap_year_is_a_date():
    assert normalise.parse_date("29/02/2024") == date(2024, 2, 29)


def test_excel_serial_in_the_1904_system():
    assert normalise.excel_serial_date(43465, date1904=True) == date(2023, 1, 1)


def test_installation_date_is_not_in_the_future_nor_before_the_program():
    assert normalise.installation_date("01/06/2024", today=TODAY) == TODAY
    assert normalise.installation_date("01/01/2019", today=TODAY) == date(2019, 1, 1)
    assert (
        refusal(normalise.installation_date, "02/06/2024", today=TODAY)
        == "La fecha de instalación 02/06/2024 es posterior a hoy."
    )
    assert refusal(normalise.installation_date, "31/12/2018", today=TODAY) == (
        "La fecha de instalación 31/12/2018 es anterior al inicio del programa (2019)."
    )
    assert refusal(normalise.installation_date, "2023", today=TODAY) == (
        "La fecha de instalación «2023» (15/07/1905) es anterior al inicio del programa (2019)."
    )


# --- Numbers ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "number"),
    [
        ("40.5", Decimal("40.5")),
        ("40,5", Decimal("40.5")),
        (" 40,5 ", Decimal("40.5")),
        ("40", Decimal("40")),
        ("0,125", Decimal("0.125")),
        ("0.125", Decimal("0.125")),
        ("1.234", Decimal("1.234")),  # Mexico's decimal point
        ("19,4326", Decimal("19.4326")),
        ("-99,13", Decimal("-99.13")),
        ("+3", Decimal("3")),
        (".5", Decimal("0.5")),
        ("5.", Decimal("5")),
        ("2 500", Decimal("2500")),
        ("2\xa0500,5", Decimal("2500.5")),
        ("1 234 567", Decimal("1234567")),
    ],
)
def test_decimal_with_point_or_comma(written, number):
    assert normalise.decimal(written) == number


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1.234,5", "El número «1.234,5» lleva separador de miles; escríbalo sin él, con punto o coma decimal (1234.5)."),
        ("1,234.5", "El número «1,234.5» lleva separador de miles; escríbalo sin él, con punto o coma decimal (1234.5)."),
        ("1.234.567", "El número «1.234.567» lleva separador de miles; escríbalo sin él, con punto o coma decimal (1234.5)."),
        ("2,500", "El número «2,500» es ambiguo (¿2.500 o 2500?); escriba los miles sin separador."),
        ("-99,133", "El número «-99,133» es ambiguo (¿-99.133 o -99133?); escriba los miles sin separador."),
        ("cuarenta", "«cuarenta» no es un número."),
        ("1e3", "«1e3» no es un número."),
        ("NaN", "«NaN» no es un número."),
        ("40 m2", "«40 m2» no es un número."),
        ("٤٠", "«٤٠» no es un número."),
    ],
)
def test_numbers_with_thousands_separators_or_ambiguous_are_refused(written, message):
    assert refusal(normalise.decimal, written) == message


@pytest.mark.parametrize(
    ("written", "number"),
    [
        ("40,5", Decimal("40.50")),
        ("40.555", Decimal("40.56")),
        ("40.550000000000004", Decimal("40.55")),
        ("0.005", Decimal("0.01")),
    ],
)
def test_positive_decimal_rounds_to_cents(written, number):
    assert normalise.positive_decimal(written) == number


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0", "Debe ser mayor que cero."),
        ("-3", "Debe ser mayor que cero."),
        ("0.004", "Debe ser mayor que cero."),
        ("100000", "El valor 100000.00 es demasiado grande (máximo 99999.99)."),
    ],
)
def test_positive_decimal_refuses_zero_negative_and_too_big(written, message):
    assert refusal(normalise.positive_decimal, written) == message


@pytest.mark.parametrize(
    ("written", "number"), [("2500", 2500), ("2500.0", 2500), ("2500,00", 2500), ("2 500", 2500), ("1100", 1100)]
)
def test_positive_int(written, number):
    assert normalise.positive_int(written) == number


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("2.5", "«2.5» debe ser un número entero, sin decimales ni separador de miles."),
        ("2,500", "El número «2,500» es ambiguo (¿2.500 o 2500?); escriba los miles sin separador."),
        ("2.500", "«2.500» debe ser un número entero, sin decimales ni separador de miles."),
        ("0", "Debe ser mayor que cero."),
        ("-2500", "Debe ser mayor que cero."),
        ("3000000000", "El valor 3000000000 es demasiado grande (máximo 2147483647)."),
    ],
)
def test_positive_int_refuses_fractions_zero_negative_and_too_big(written, message):
    assert refusal(normalise.positive_int, written) == message


@pytest.mark.parametrize(("written", "year"), [("2021", 2021), ("2021.0", 2021)])
def test_year(written, year):
    assert normalise.year(written) == year


@pytest.mark.parametrize("written", ["21", "2021.5", "veinte"])
def test_a_value_that_is_no_year_is_refused(written):
    assert refusal(normalise.year, written)


# --- Coordinates ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("latitude", "longitude", "pair"),
    [
        ("19.432608", "-99.133209", (Decimal("19.432608"), Decimal("-99.133209"))),
        ("19,432608", "-99,133209", (Decimal("19.432608"), Decimal("-99.133209"))),
        (" 19.4326 ", "-99.1332", (Decimal("19.432600"), Decimal("-99.133200"))),
        ("19.4326084999", "-99.1332", (Decimal("19.432608"), Decimal("-99.133200"))),
        ("19.432", "-99.133", (Decimal("19.432000"), Decimal("-99.133000"))),
        ("19.04", "-99.37", (Decimal("19.04"), Decimal("-99.37"))),
        ("19.60", "-98.94", (Decimal("19.60"), Decimal("-98.94"))),
        ("", "", (None, None)),
        ("  ", " ", (None, None)),
    ],
)
def test_coordinates_inside_mexico_city(latitude, longitude, pair):
    assert normalise.coordinates(latitude, longitude) == pair


def coordinate_errors(latitude: str, longitude: str) -> dict[str, str]:
    with pytest.raises(InvalidColumns) as caught:
        normalise.coordinates(latitude, longitude)
    return caught.value.messages


@pytest.mark.parametrize(
    ("latitude", "longitude", "errors"),
    [
        ("19.4326", "", {"longitud": "Capture latitud y longitud juntas, o ninguna."}),
        ("", "-99.1332", {"latitud": "Capture latitud y longitud juntas, o ninguna."}),
        ("20.6597", "-103.3496", {  # Guadalajara
            "latitud": "La latitud 20.6597 queda fuera de la Ciudad de México (19.04 a 19.60).",
            "longitud": "La longitud -103.3496 queda fuera de la Ciudad de México (-99.37 a -98.94).",
        }),
        ("19.4326", "-98.2063", {"longitud": "La longitud -98.2063 queda fuera de la Ciudad de México (-99.37 a -98.94)."}),
        ("-99.1332", "19.4326", {"latitud": "La latitud y la longitud parecen intercambiadas."}),
        ("19,432", "-99.1332", {"latitud": "El número «19,432» es ambiguo (¿19.432 o 19432?); escriba los miles sin separador."}),
        ("norte", "-99.1332", {"latitud": "«norte» no es un número."}),
    ],
)  # fmt: skip
def test_coordinates_outside_half_given_or_swapped_are_refused(latitude, longitude, errors):
    assert coordinate_errors(latitude, longitude) == errors


# --- Personal identifiers -------------------------------------------------------------------------------------------------
def test_curp_is_upper_cased_and_stripped_of_spaces():
    valid = make_curp(7, "H")

    assert normalise.curp(valid) == valid
    assert normalise.curp(f" {valid.lower()} ") == valid
    assert normalise.curp(f"{valid[:4]} {valid[4:10]} {valid[10:]}") == valid


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("GOMA850101HDFRRN0", "La CURP debe tener 18 caracteres; tiene 17."),
        ("GOMA850101HDFRRN01", "El dígito verificador de la CURP no coincide; revise que esté bien escrita."),
        ("GOMA851301HDFRRN00", "La CURP contiene una fecha de nacimiento imposible."),
        ("GOMA850101HZZRRN00", "La CURP indica una entidad de nacimiento que no existe (ZZ)."),
        (
            "1234567890ABCDEFGH",
            "La CURP no tiene el formato oficial (4 letras, fecha, sexo, entidad, 3 consonantes y 2 caracteres).",
        ),
        ("http://example.com/x", "La CURP debe tener 18 caracteres; tiene 20."),
    ],
)
def test_an_invalid_curp_is_refused_with_the_validators_reason(written, message):
    assert refusal(normalise.curp, written) == message


def test_curp_sex_and_birth_date_century_from_the_17th_character():
    twentieth = make_curp(3, "H")
    body = "GAMA050301MDFRRNA"  # born 2005: the 17th character is a letter
    from installations.identifiers import curp_check_digit

    twenty_first = body + str(curp_check_digit(body))

    assert normalise.curp_sex(twentieth) == "H"
    assert normalise.curp_sex(twenty_first) == "M"
    assert normalise.birth_date(twentieth, today=TODAY).year < 2000
    assert normalise.birth_date(twenty_first, today=TODAY) == date(2005, 3, 1)


def test_a_curp_born_after_today_is_refused():
    from installations.identifiers import curp_check_digit

    body = "GAMA300301MDFRRNA"  # 2030
    assert (
        refusal(normalise.birth_date, body + str(curp_check_digit(body)), today=TODAY)
        == "La CURP indica una fecha de nacimiento futura."
    )


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("5512345678", "5512345678"),
        ("55 1234 5678", "5512345678"),
        ("55-1234-5678", "5512345678"),
        ("(55) 1234-5678", "5512345678"),
        ("55.1234.5678", "5512345678"),
        ("+52 55 1234 5678", "5512345678"),
        ("", ""),
    ],
)
def test_phone_is_ten_digits(written, digits):
    assert normalise.phone(written) == digits


@pytest.mark.parametrize("written", ["1234567", "551234567890", "55 1234 567X", "+1 555 123 4567", "٥٥١٢٣٤٥٦٧٨"])
def test_a_phone_that_is_not_ten_digits_is_refused(written):
    assert refusal(normalise.phone, written) == "El teléfono debe tener 10 dígitos."


@pytest.mark.parametrize(
    ("written", "code"), [("14000", "14000"), ("01000", "01000"), ("1000", "01000"), (" 09 000", "09000"), ("", "")]
)
def test_postal_code(written, code):
    assert normalise.postal_code(written) == code


@pytest.mark.parametrize("written", ["123", "123456", "C.P. 14000", "14OOO"])
def test_a_postal_code_that_is_not_five_digits_is_refused(written):
    assert refusal(normalise.postal_code, written) == f"El código postal «{written}» debe tener 5 dígitos."
