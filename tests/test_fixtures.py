"""Every fixture in fixtures/ loads, and the reference figures are the brief's."""

from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from installations.models import Alcaldia, ProgramYear, RainfallReference, RoofCoefficient


def test_all_fixtures_load_together(db):
    names = sorted(p.stem for p in Path(settings.BASE_DIR, "fixtures").glob("*.json"))
    call_command("loaddata", *names, verbosity=0)
    assert set(names) >= set(settings.REFERENCE_FIXTURES)


def test_the_sixteen_alcaldias_carry_their_inegi_codes(db):
    assert list(Alcaldia.objects.values_list("cvegeo", flat=True)) == [f"090{n:02d}" for n in range(2, 18)]
    assert Alcaldia.objects.get(cvegeo="09009").name == "Milpa Alta"
    assert "GAM" in Alcaldia.objects.get(cvegeo="09005").short_names


def test_the_nine_alcaldias_of_2019_to_2023_are_the_union_of_those_years(db):
    codes = set(ProgramYear.objects.filter(year__lte=2023).values_list("alcaldias", flat=True))
    names = set(Alcaldia.objects.filter(cvegeo__in=codes).values_list("name", flat=True))
    assert names == {
        "Azcapotzalco", "Coyoacán", "Gustavo A. Madero", "Iztapalapa", "La Magdalena Contreras",
        "Milpa Alta", "Tláhuac", "Tlalpan", "Xochimilco",
    }  # fmt: skip


def test_targets_and_budgets_are_the_briefs(db):
    assert ProgramYear.objects.get(year=2019).target_systems == 10_000
    assert ProgramYear.objects.get(year=2022).target_systems == 20_000
    assert ProgramYear.objects.get(year=2024).target_systems is None  # not published
    assert ProgramYear.objects.get(year=2019).budget_mxn == Decimal("200000000.00")


def test_harvest_parameters_record_their_source_and_flag_unsuitable_roofs(db):
    assert RoofCoefficient.objects.get(material="concreto").runoff_coefficient == Decimal("0.85")
    assert not RoofCoefficient.objects.get(material="asbesto").suitable
    assert RoofCoefficient.objects.get(material="carton").runoff_coefficient is None
    assert RainfallReference.objects.get(alcaldia=None).annual_mm == Decimal("846.9")
    assert all(r.source for r in RainfallReference.objects.all())
