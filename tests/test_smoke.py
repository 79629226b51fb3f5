from installations.models import Alcaldia, ProgramYear


def test_reference_fixtures_are_loaded(db):
    assert Alcaldia.objects.count() == 16
    assert ProgramYear.objects.get(year=2021).alcaldias.count() == 8
