"""How much rain a roof can harvest in a year: V (L) = P (mm) × A (m²) × Ce."""

from decimal import Decimal

import pytest

from installations.models import RainfallReference, RoofCoefficient
from installations.selectors import WATER_TRUCK_LITRES, dwelling_harvest_estimate, harvest_litres_per_year
from tests.factories import ColoniaFactory, DwellingFactory

MILPA_ALTA = "09009"
TLALPAN = "09012"  # has no rainfall figure of its own in the reference data


def test_a_40_m2_concrete_roof_under_850_mm_harvests_28900_litres():
    litres = harvest_litres_per_year(rainfall_mm=Decimal("850"), roof_area_m2=Decimal("40"), runoff_coefficient=Decimal("0.85"))

    assert litres == 28_900


def test_the_yearly_harvest_is_rounded_to_whole_litres_half_up():
    # 846.9 × 40 × 0.85 = 28,794.6
    assert harvest_litres_per_year(
        rainfall_mm=Decimal("846.9"), roof_area_m2=Decimal("40"), runoff_coefficient=Decimal("0.85")
    ) == (28_795)
    # 0.5 × 1 × 1 = 0.5 rounds up, not to the even 0
    assert harvest_litres_per_year(rainfall_mm=Decimal("0.5"), roof_area_m2=Decimal("1"), runoff_coefficient=Decimal("1")) == 1


def test_the_harvest_grows_in_proportion_to_the_roof():
    small = harvest_litres_per_year(rainfall_mm=Decimal("1000"), roof_area_m2=Decimal("20"), runoff_coefficient=Decimal("0.8"))
    large = harvest_litres_per_year(rainfall_mm=Decimal("1000"), roof_area_m2=Decimal("60"), runoff_coefficient=Decimal("0.8"))

    assert (small, large) == (16_000, 48_000)


def test_a_dwelling_uses_its_alcaldias_own_rainfall(db):
    # given a 40 m² concrete roof in Milpa Alta (1,083 mm a year)
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material="concreto", roof_area_m2=40)
    # when
    estimate = dwelling_harvest_estimate(dwelling=dwelling)
    # then 1,083 × 40 × 0.85
    assert estimate.rainfall_mm == Decimal("1083.0")
    assert estimate.runoff_coefficient == Decimal("0.85")
    assert estimate.litres_per_year == 36_822
    assert estimate.roof_suitable is True
    assert "Milpa Alta" in estimate.rainfall_source
    assert estimate.coefficient_source == RoofCoefficient.objects.get(material="concreto").source


def test_a_dwelling_in_an_alcaldia_without_its_own_figure_uses_the_city_reference(db):
    # given a 40 m² concrete roof in Tlalpan, which has no rainfall row
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=TLALPAN), roof_material="concreto", roof_area_m2=40)
    assert not RainfallReference.objects.filter(alcaldia_id=TLALPAN).exists()
    # when
    estimate = dwelling_harvest_estimate(dwelling=dwelling)
    # then 846.9 × 40 × 0.85 = 28,794.6
    assert estimate.rainfall_mm == Decimal("846.9")
    assert estimate.litres_per_year == 28_795
    assert estimate.rainfall_source == RainfallReference.objects.get(alcaldia=None).source


def test_a_new_rainfall_figure_for_an_alcaldia_replaces_the_city_reference(db):
    RainfallReference.objects.create(alcaldia_id=TLALPAN, annual_mm=Decimal("1000.0"), source="Estación de prueba")
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=TLALPAN), roof_material="concreto", roof_area_m2=40)

    estimate = dwelling_harvest_estimate(dwelling=dwelling)

    assert estimate.rainfall_mm == Decimal("1000.0")
    assert estimate.litres_per_year == 34_000
    assert estimate.rainfall_source == "Estación de prueba"


@pytest.mark.parametrize(
    ("material", "coefficient", "litres"),
    [
        ("concreto", Decimal("0.85"), 36_822),
        ("lamina_metalica", Decimal("0.85"), 36_822),
        ("lamina_plastica", Decimal("0.90"), 38_988),
        ("fibrocemento", Decimal("0.80"), 34_656),
        ("otro", Decimal("0.80"), 34_656),
    ],
)
def test_the_roof_coefficient_comes_from_the_reference_data(material, coefficient, litres, db):
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material=material, roof_area_m2=40)

    estimate = dwelling_harvest_estimate(dwelling=dwelling)

    assert estimate.runoff_coefficient == coefficient
    assert estimate.litres_per_year == litres


def test_an_edited_coefficient_changes_the_estimate(db):
    # given
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material="concreto", roof_area_m2=40)
    before = dwelling_harvest_estimate(dwelling=dwelling)
    # when the program revises the concrete coefficient
    RoofCoefficient.objects.filter(material="concreto").update(runoff_coefficient=Decimal("0.90"), source="Revisión 2025")
    # then 1,083 × 40 × 0.90
    after = dwelling_harvest_estimate(dwelling=dwelling)
    assert before.litres_per_year == 36_822
    assert after.litres_per_year == 38_988
    assert after.runoff_coefficient == Decimal("0.90")
    assert after.coefficient_source == "Revisión 2025"


@pytest.mark.parametrize("material", ["asbesto", "carton"])
def test_an_unsuitable_roof_is_flagged_and_not_estimated(material, db):
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material=material, roof_area_m2=40)

    estimate = dwelling_harvest_estimate(dwelling=dwelling)

    assert estimate.roof_suitable is False
    assert estimate.litres_per_year is None
    assert estimate.water_trucks_per_year is None
    assert estimate.runoff_coefficient is None
    assert estimate.rainfall_mm == Decimal("1083.0")
    assert "No apto" in estimate.coefficient_source


def test_the_harvest_is_also_told_in_water_trucks_of_10000_litres(db):
    # given 36,822 L a year in Milpa Alta
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material="concreto", roof_area_m2=40)
    # when
    estimate = dwelling_harvest_estimate(dwelling=dwelling)
    # then
    assert WATER_TRUCK_LITRES == 10_000
    assert estimate.water_trucks_per_year == Decimal("3.7")


def test_28900_litres_are_about_three_water_trucks(db):
    # given a roof that harvests exactly 28,900 L: 850 mm × 40 m² × 0.85
    RainfallReference.objects.filter(alcaldia_id=MILPA_ALTA).update(annual_mm=Decimal("850.0"))
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=MILPA_ALTA), roof_material="concreto", roof_area_m2=40)
    # when
    estimate = dwelling_harvest_estimate(dwelling=dwelling)
    # then
    assert estimate.litres_per_year == 28_900
    assert estimate.water_trucks_per_year == Decimal("2.9")
