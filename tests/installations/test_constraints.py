"""The database itself refuses nonsense: every constraint is broken once, writing around the ORM's validation.

Each case builds valid rows, then breaks one rule with ``QuerySet.update`` or ``bulk_create`` (neither
runs ``full_clean``), and expects the database to answer with an IntegrityError naming the constraint.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from installations.identifiers import folio_generate, verification_code_hash
from installations.lifecycle import Status
from installations.models import (
    Alcaldia,
    Application,
    Colonia,
    Dwelling,
    EligibleColonia,
    FieldPhoto,
    Installation,
    MaintenanceReminder,
    Modality,
    ProgramYear,
    RainfallReference,
    RoofCoefficient,
    StatusChange,
    TechnicalVisit,
    User,
)
from tests.factories import (
    ApplicantFactory,
    ApplicationFactory,
    ColoniaFactory,
    ComponentFactory,
    DwellingFactory,
    EligibleColoniaFactory,
    InstallationFactory,
    MaintenanceVisitFactory,
    PaymentFactory,
    StatusChangeFactory,
    TechnicalVisitFactory,
    UserFactory,
    make_curp,
)

Write = Callable[[], object]
VIOLATIONS: dict[str, Callable[[], Write]] = {}
# Where a column's own check (PositiveIntegerField: >= 0) says the same thing, either may answer first.
ALSO_REPORTED_AS: dict[str, str] = {"dwelling_storage_not_negative": "existing_storage_litres"}


def violates(name: str) -> Callable[[Callable[[], Write]], Callable[[], Write]]:
    """Register a case: a function that sets up valid rows and returns the write that breaks ``name``."""

    def register(case: Callable[[], Write]) -> Callable[[], Write]:
        assert name not in VIOLATIONS, name
        VIOLATIONS[name] = case
        return case

    return register


def updating(instance: models.Model, **values: object) -> Write:
    return lambda: type(instance).objects.filter(pk=instance.pk).update(**values)


def inserting(*rows: models.Model) -> Write:
    return lambda: type(rows[0]).objects.bulk_create(rows)


def all_constraints() -> dict[str, tuple[type[models.Model], models.BaseConstraint]]:
    return {
        constraint.name: (model, constraint)
        for model in apps.get_app_config("installations").get_models()
        for constraint in model._meta.constraints
    }


def assert_refused_by(error: IntegrityError, name: str) -> None:
    """The error names the constraint (SQLite names a column-based unique index by its columns instead)."""
    message = str(error)
    if name in message or ALSO_REPORTED_AS.get(name, name) in message:
        return
    model, constraint = all_constraints()[name]
    assert connection.vendor == "sqlite", message
    assert isinstance(constraint, models.UniqueConstraint), message
    columns = [f"{model._meta.db_table}.{model._meta.get_field(field).column}" for field in constraint.fields]
    assert message == "UNIQUE constraint failed: " + ", ".join(columns)


def refused(write: Write) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        write()
    return caught.value


def an_application_row(**values: object) -> Application:
    """An unsaved application with every required field, for bulk_create."""
    fields = {
        "folio": folio_generate(),
        "verification_code_hash": verification_code_hash("123456"),
        "program_year_id": 2023,
        "modality": Modality.TOTAL_SUBSIDY,
        "channel": Application.Channel.BRIGADE,
        "privacy_consent_at": datetime(2023, 2, 1, 16, 0, tzinfo=UTC),
        "status": Status.REGISTERED,
    }
    if "dwelling" not in values:
        fields["dwelling"] = DwellingFactory()
    return Application(**(fields | values))


# --- Staff ---------------------------------------------------------------------------------------------
@violates("user_role_valid")
def _user_with_an_unknown_role() -> Write:
    return updating(UserFactory(), role="gardener")


# --- Reference data ------------------------------------------------------------------------------------
@violates("alcaldia_cvegeo_inegi")
def _an_eighteenth_alcaldia() -> Write:
    return inserting(Alcaldia(cvegeo="09018", name="Alcaldía inventada"))


@violates("colonia_unique_name_per_alcaldia")
def _two_colonias_with_one_name_in_one_alcaldia() -> Write:
    colonia = ColoniaFactory(alcaldia_id="09009", name="San Pablo Oztotepec")
    return inserting(Colonia(alcaldia_id="09009", name=colonia.name, catalog_source="test", catalog_key=""))


@violates("colonia_unique_catalog_key")
def _two_colonias_with_one_catalog_key() -> Write:
    colonia = ColoniaFactory(catalog_source="IECM-2019", catalog_key="09-123")
    return inserting(
        Colonia(alcaldia_id="09012", name="Otra colonia", catalog_source="IECM-2019", catalog_key=colonia.catalog_key)
    )


@violates("colonia_kind_valid")
def _a_colonia_of_an_unknown_kind() -> Write:
    return updating(ColoniaFactory(), kind="unidad")


@violates("programyear_year_range")
def _a_program_year_before_the_program() -> Write:
    return inserting(ProgramYear(year=2018))


@violates("programyear_target_positive")
def _a_program_year_with_a_target_of_zero() -> Write:
    return updating(ProgramYear.objects.get(year=2023), target_systems=0)


@violates("programyear_budget_not_negative")
def _a_program_year_with_a_negative_budget() -> Write:
    return updating(ProgramYear.objects.get(year=2023), budget_mxn=Decimal("-1.00"))


@violates("programyear_registration_window_ordered")
def _a_registration_window_that_closes_before_it_opens() -> Write:
    return updating(
        ProgramYear.objects.get(year=2023), registration_opens_on=date(2023, 3, 1), registration_closes_on=date(2023, 2, 1)
    )


@violates("eligiblecolonia_once_per_year")
def _a_colonia_listed_twice_in_one_year() -> Write:
    eligible = EligibleColoniaFactory()
    return inserting(EligibleColonia(program_year_id=eligible.program_year_id, colonia=eligible.colonia))


@violates("eligiblecolonia_modality_valid")
def _an_eligible_colonia_with_an_unknown_modality() -> Write:
    return updating(EligibleColoniaFactory(), modality="free")


@violates("roofcoefficient_material_valid")
def _a_coefficient_for_an_unknown_material() -> Write:
    return inserting(RoofCoefficient(material="paja", runoff_coefficient=Decimal("0.50"), suitable=True, source="prueba"))


@violates("roofcoefficient_suitable_has_coefficient")
def _a_suitable_roof_without_a_coefficient() -> Write:
    return updating(RoofCoefficient.objects.get(material="concreto"), runoff_coefficient=None)


@violates("rainfall_annual_mm_range")
def _no_rain_at_all() -> Write:
    return updating(RainfallReference.objects.get(alcaldia_id="09009"), annual_mm=Decimal("0"))


@violates("rainfall_one_per_alcaldia_and_city")
def _a_second_city_wide_rainfall() -> Write:
    return inserting(RainfallReference(alcaldia=None, annual_mm=Decimal("700.0"), source="prueba"))


# --- Households ------------------------------------------------------------------------------------------
@violates("applicant_curp_18_chars")
def _a_curp_of_seventeen_characters() -> Write:
    return updating(ApplicantFactory(), curp=make_curp(1)[:17])


@violates("applicant_sex_valid")
def _an_applicant_with_an_unknown_sex() -> Write:
    return updating(ApplicantFactory(), sex="Z")


@violates("dwelling_roof_area_positive")
def _a_roof_of_zero_square_metres() -> Write:
    return updating(DwellingFactory(), roof_area_m2=Decimal("0"))


@violates("dwelling_occupants_positive")
def _a_home_where_nobody_lives() -> Write:
    return updating(DwellingFactory(), occupants=0)


@violates("dwelling_storage_not_negative")
def _negative_existing_storage() -> Write:
    return updating(DwellingFactory(), existing_storage_litres=-1)


@violates("dwelling_water_supply_valid")
def _an_unknown_water_supply() -> Write:
    return updating(DwellingFactory(), water_supply="rio", tandeo_days_per_week=None)


@violates("dwelling_roof_material_valid")
def _an_unknown_roof_material() -> Write:
    return updating(DwellingFactory(), roof_material="paja")


@violates("dwelling_tandeo_days_only_for_tandeo")
def _tandeo_days_for_a_home_with_continuous_supply() -> Write:
    return updating(DwellingFactory(), water_supply=Dwelling.WaterSupply.CONTINUOUS, tandeo_days_per_week=3)


@violates("dwelling_coordinates_in_cdmx")
def _a_home_in_puebla() -> Write:
    return updating(DwellingFactory(), latitude=Decimal("19.041400"), longitude=Decimal("-98.206300"))


# --- Requests and visits -----------------------------------------------------------------------------------
@violates("application_status_valid")
def _an_unknown_status() -> Write:
    return updating(ApplicationFactory(), status="approved")


@violates("application_channel_valid")
def _an_unknown_channel() -> Write:
    return updating(ApplicationFactory(), channel="fax")


@violates("application_modality_valid")
def _an_unknown_modality() -> Write:
    return updating(ApplicationFactory(), modality="free")


@violates("application_folio_12_symbols")
def _a_folio_of_eleven_symbols() -> Write:
    return updating(ApplicationFactory(), folio=folio_generate()[:11])


@violates("application_one_open_per_curp_per_year")
def _two_open_applications_for_one_curp_in_one_year() -> Write:
    first = ApplicationFactory(status=Status.VIABLE)
    return inserting(an_application_row(applicant=first.applicant, program_year_id=first.program_year_id))


@violates("technicalvisit_outcome_valid")
def _a_visit_with_an_unknown_outcome() -> Write:
    return updating(TechnicalVisitFactory(), outcome="maybe")


@violates("technicalvisit_outcome_iff_visited")
def _an_outcome_without_a_visit_date() -> Write:
    return updating(TechnicalVisitFactory(), visited_on=None)


@violates("technicalvisit_roof_area_positive")
def _a_measured_roof_of_zero() -> Write:
    return updating(TechnicalVisitFactory(), measured_roof_area_m2=Decimal("0"))


@violates("technicalvisit_adjustments_after_visit")
def _adjustments_verified_before_the_visit() -> Write:
    visit = TechnicalVisitFactory(outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS, required_adjustments="Bajante.")
    return updating(visit, adjustments_verified_on=date(2023, 3, 1))


@violates("payment_amount_positive")
def _a_payment_of_nothing() -> Write:
    return updating(PaymentFactory(), amount_mxn=Decimal("0"))


@violates("payment_method_valid")
def _a_payment_in_cash() -> Write:
    return updating(PaymentFactory(), method="efectivo")


# --- Systems -------------------------------------------------------------------------------------------------
@violates("installation_tank_capacity_positive")
def _a_tank_of_zero_litres() -> Write:
    return updating(InstallationFactory(), tank_capacity_litres=0)


@violates("installation_unit_cost_positive")
def _a_system_that_cost_nothing() -> Write:
    return updating(InstallationFactory(), unit_cost_mxn=Decimal("0"))


@violates("installation_funding_source_valid")
def _an_unknown_funding_source() -> Write:
    return updating(InstallationFactory(), funding_source="rifa")


@violates("installation_training_after_install")
def _training_before_the_installation() -> Write:
    return updating(InstallationFactory(installed_on=date(2023, 5, 1)), training_on=date(2023, 4, 30))


@violates("installation_removed_after_install")
def _removed_before_it_was_installed() -> Write:
    return updating(InstallationFactory(installed_on=date(2023, 5, 1)), removed_on=date(2023, 4, 30))


@violates("installation_one_working_system_per_dwelling")
def _a_second_working_system_at_one_dwelling() -> Write:
    first = InstallationFactory()
    second_application = ApplicationFactory(dwelling=first.dwelling, program_year=ProgramYear.objects.get(year=2024))
    return inserting(
        Installation(
            application=second_application,
            dwelling=first.dwelling,
            technician=first.technician,
            installer=first.installer,
            installed_on=date(2024, 5, 1),
        )
    )


@violates("component_kind_valid")
def _an_unknown_component() -> Write:
    return updating(ComponentFactory(), kind="antena")


@violates("component_unit_valid")
def _an_unknown_unit() -> Write:
    return updating(ComponentFactory(), unit="gal")


@violates("component_size_positive")
def _a_component_of_size_zero() -> Write:
    return updating(ComponentFactory(), size=Decimal("0"))


@violates("maintenancevisit_kind_valid")
def _an_unknown_kind_of_maintenance() -> Write:
    return updating(MaintenanceVisitFactory(), kind="magic")


@violates("maintenancevisit_performed_by_valid")
def _maintenance_by_nobody_known() -> Write:
    return updating(MaintenanceVisitFactory(), performed_by="neighbour")


@violates("maintenancevisit_next_due_after_visit")
def _next_maintenance_due_the_same_day() -> Write:
    visit = MaintenanceVisitFactory(visited_on=date(2024, 4, 1))
    return updating(visit, next_due_on=date(2024, 4, 1))


def _a_reminder(**values: object) -> MaintenanceReminder:
    fields = {"season": 2025, "reason": MaintenanceReminder.Reason.FLAGGED, "due_since": date(2025, 5, 2)}
    if "installation" not in values:
        fields["installation"] = InstallationFactory()
    return MaintenanceReminder(**(fields | values))


@violates("maintenance_reminder_once_per_season")
def _two_reminders_for_one_system_in_one_season() -> Write:
    first = _a_reminder()
    first.save()
    return inserting(_a_reminder(installation=first.installation, due_since=date(2025, 7, 1)))


@violates("maintenancereminder_reason_valid")
def _a_reminder_for_no_known_reason() -> Write:
    reminder = _a_reminder()
    reminder.save()
    return updating(reminder, reason="whim")


@violates("statuschange_from_valid")
def _history_from_an_unknown_state() -> Write:
    return updating(StatusChangeFactory(), from_status="approved")


@violates("statuschange_to_valid")
def _history_to_an_unknown_state() -> Write:
    return updating(StatusChangeFactory(), to_status="approved")


@violates("statuschange_changes_something")
def _history_that_changes_nothing() -> Write:
    return updating(StatusChangeFactory(from_status=Status.ACTIVE, to_status=Status.INACTIVE), to_status=Status.ACTIVE)


# --- Field captures: the phone's GPS reading on each record, and photos -------------------------------------
READING = {"gps_latitude": Decimal("19.296012"), "gps_longitude": Decimal("-99.034046"), "gps_accuracy_m": Decimal("8.5")}


def _half_reading(factory, prefix):
    @violates(f"{prefix}_gps_all_or_none")
    def _case():
        return updating(factory(), gps_latitude=READING["gps_latitude"], gps_longitude=READING["gps_longitude"])

    @violates(f"{prefix}_gps_accuracy_positive")
    def _zero_accuracy():
        return updating(factory(), **{**READING, "gps_accuracy_m": Decimal("0")})

    @violates(f"{prefix}_gps_in_cdmx")
    def _outside():
        return updating(factory(), **{**READING, "gps_latitude": Decimal("20.670000")})


_half_reading(TechnicalVisitFactory, "technicalvisit")
_half_reading(InstallationFactory, "installation")
_half_reading(MaintenanceVisitFactory, "maintenancevisit")


def _a_photo_row(**records) -> FieldPhoto:
    return FieldPhoto(image="field/x.jpg", width=10, height=10, taken_by=UserFactory(), **records)


@violates("fieldphoto_exactly_one_record")
def _a_photo_of_two_records():
    photo = _a_photo_row(installation=InstallationFactory())
    photo.save()
    return updating(photo, technical_visit=TechnicalVisitFactory())


@violates("fieldphoto_size_positive")
def _a_photo_without_pixels():
    photo = _a_photo_row(installation=InstallationFactory())
    photo.save()
    return updating(photo, width=0)


# --- The tests ---------------------------------------------------------------------------------------------------
def test_every_constraint_of_the_models_has_a_violation_case():
    assert set(VIOLATIONS) == set(all_constraints())


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_the_database_refuses_a_write_that_breaks(name, db):
    # given valid rows, and a write that bypasses the ORM's validation
    write = VIOLATIONS[name]()
    # when
    error = refused(write)
    # then
    assert_refused_by(error, name)


# The rules in more detail: every way to break a rule, and the neighbouring writes it must allow.
@pytest.mark.parametrize("code", ["09001", "09018", "15001", "9002", "ABCDE"])
def test_an_alcaldia_code_outside_09002_to_09017_is_refused(code, db):
    assert_refused_by(refused(inserting(Alcaldia(cvegeo=code, name=f"Alcaldía {code}"))), "alcaldia_cvegeo_inegi")


def test_the_sixteen_alcaldias_are_09002_to_09017(db):
    assert sorted(Alcaldia.objects.values_list("cvegeo", flat=True)) == [f"090{n:02d}" for n in range(2, 18)]


@pytest.mark.parametrize(
    ("suitable", "coefficient"),
    [(True, None), (True, Decimal("0")), (True, Decimal("1.01")), (False, Decimal("0.80")), (False, Decimal("0"))],
)
def test_a_roof_is_suitable_exactly_when_it_has_a_coefficient_in_0_to_1(suitable, coefficient, db):
    roof = RoofCoefficient.objects.get(material="otro")

    error = refused(updating(roof, suitable=suitable, runoff_coefficient=coefficient))

    assert_refused_by(error, "roofcoefficient_suitable_has_coefficient")


def test_an_unsuitable_roof_without_coefficient_and_a_suitable_one_with_one_are_stored(db):
    RoofCoefficient.objects.filter(material="otro").update(suitable=False, runoff_coefficient=None)
    RoofCoefficient.objects.filter(material="asbesto").update(suitable=True, runoff_coefficient=Decimal("1.00"))

    assert RoofCoefficient.objects.get(material="otro").runoff_coefficient is None
    assert RoofCoefficient.objects.get(material="asbesto").suitable


def test_an_alcaldia_has_one_rainfall_row(db):
    error = refused(inserting(RainfallReference(alcaldia_id="09009", annual_mm=Decimal("900.0"), source="prueba")))

    assert_refused_by(error, "rainfall_one_per_alcaldia_and_city")


def test_a_city_row_and_alcaldia_rows_live_side_by_side(db):
    RainfallReference.objects.bulk_create([RainfallReference(alcaldia_id="09012", annual_mm=Decimal("1000.0"), source="p")])

    assert RainfallReference.objects.filter(alcaldia=None).count() == 1
    assert RainfallReference.objects.exclude(alcaldia=None).count() == 3


def test_colonias_without_a_catalog_key_may_share_the_empty_key(db):
    Colonia.objects.bulk_create(
        [
            Colonia(alcaldia_id="09009", name="Sin clave uno", catalog_source="test", catalog_key=""),
            Colonia(alcaldia_id="09009", name="Sin clave dos", catalog_source="test", catalog_key=""),
        ]
    )

    assert Colonia.objects.filter(catalog_source="test", catalog_key="").count() == 2


def test_the_same_colonia_name_in_two_alcaldias_is_allowed(db):
    ColoniaFactory(alcaldia_id="09009", name="San Miguel")
    ColoniaFactory(alcaldia_id="09012", name="San Miguel")

    assert Colonia.objects.filter(name="San Miguel").count() == 2


@pytest.mark.parametrize(
    ("supply", "days"),
    [
        (Dwelling.WaterSupply.CONTINUOUS, 0),
        (Dwelling.WaterSupply.WATER_TRUCKS, 2),
        (Dwelling.WaterSupply.NO_NETWORK, 6),
        (Dwelling.WaterSupply.TANDEO, 7),
    ],
)
def test_tandeo_days_belong_to_tandeo_homes_and_are_at_most_six(supply, days, db):
    error = refused(updating(DwellingFactory(), water_supply=supply, tandeo_days_per_week=days))

    assert_refused_by(error, "dwelling_tandeo_days_only_for_tandeo")


@pytest.mark.parametrize(
    ("supply", "days"), [(Dwelling.WaterSupply.TANDEO, 0), (Dwelling.WaterSupply.TANDEO, 6), ("pipas", None)]
)
def test_tandeo_days_within_the_week_are_stored(supply, days, db):
    dwelling = DwellingFactory()

    Dwelling.objects.filter(pk=dwelling.pk).update(water_supply=supply, tandeo_days_per_week=days)

    assert Dwelling.objects.get(pk=dwelling.pk).tandeo_days_per_week == days


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        ("19.700000", "-99.133000"),  # north of the city (Estado de México)
        ("19.000000", "-99.133000"),  # south
        ("19.432600", "-99.400000"),  # west
        ("19.432600", "-98.900000"),  # east
        ("19.432600", None),  # half a position
        (None, "-99.133200"),
    ],
)
def test_coordinates_outside_mexico_city_or_half_given_are_refused(latitude, longitude, db):
    values = {"latitude": latitude and Decimal(latitude), "longitude": longitude and Decimal(longitude)}

    error = refused(updating(DwellingFactory(), **values))

    assert_refused_by(error, "dwelling_coordinates_in_cdmx")


@pytest.mark.parametrize(("latitude", "longitude"), [("19.432600", "-99.133200"), ("19.040000", "-98.940000"), (None, None)])
def test_coordinates_inside_mexico_city_or_none_are_stored(latitude, longitude, db):
    dwelling = DwellingFactory()
    values = {"latitude": latitude and Decimal(latitude), "longitude": longitude and Decimal(longitude)}

    Dwelling.objects.filter(pk=dwelling.pk).update(**values)

    dwelling.refresh_from_db()
    assert (dwelling.latitude, dwelling.longitude) == (values["latitude"], values["longitude"])


def test_a_recorded_visit_date_without_an_outcome_is_refused(db):
    visit = TechnicalVisitFactory(visited_on=None, outcome=None)

    error = refused(updating(visit, visited_on=date(2023, 3, 2)))

    assert_refused_by(error, "technicalvisit_outcome_iff_visited")


def test_verified_adjustments_on_a_visit_not_yet_made_are_refused(db):
    visit = TechnicalVisitFactory(visited_on=None, outcome=None)

    error = refused(updating(visit, adjustments_verified_on=date(2023, 3, 20)))

    assert_refused_by(error, "technicalvisit_adjustments_after_visit")


@pytest.mark.parametrize("closed", [Status.WITHDRAWN, Status.REJECTED, Status.NOT_VIABLE])
def test_a_closed_application_does_not_block_a_new_one_for_the_same_curp(closed, db):
    # given
    first = ApplicationFactory(status=closed)
    # when
    Application.objects.bulk_create([an_application_row(applicant=first.applicant, program_year_id=first.program_year_id)])
    # then
    assert Application.objects.filter(applicant=first.applicant, program_year_id=2023).count() == 2


def test_the_same_curp_may_have_open_applications_in_different_years(db):
    first = ApplicationFactory(status=Status.ACTIVE)

    Application.objects.bulk_create([an_application_row(applicant=first.applicant, program_year_id=2024)])

    assert Application.objects.filter(applicant=first.applicant).count() == 2


def test_reopening_a_closed_application_beside_an_open_one_is_refused(db):
    # given a withdrawn application and a new open one for the same CURP and year
    withdrawn = ApplicationFactory(status=Status.WITHDRAWN)
    ApplicationFactory(applicant=withdrawn.applicant)
    # when
    error = refused(updating(withdrawn, status=Status.REGISTERED))
    # then
    assert_refused_by(error, "application_one_open_per_curp_per_year")


def test_two_applications_never_share_a_folio(db):
    first = ApplicationFactory()

    error = refused(inserting(an_application_row(folio=first.folio, applicant=ApplicantFactory())))

    assert "folio" in str(error)


def test_two_applicants_never_share_a_curp(db):
    first = ApplicantFactory()

    error = refused(updating(ApplicantFactory(), curp=first.curp))

    assert "curp" in str(error)


def test_a_second_system_is_allowed_once_the_first_is_removed(db):
    # given the first system at the dwelling was taken out
    first = InstallationFactory(installed_on=date(2023, 5, 1), removed_on=date(2024, 1, 15))
    second_application = ApplicationFactory(dwelling=first.dwelling, program_year=ProgramYear.objects.get(year=2024))
    # when
    Installation.objects.bulk_create(
        [
            Installation(
                application=second_application,
                dwelling=first.dwelling,
                technician=first.technician,
                installer=first.installer,
                installed_on=date(2024, 5, 1),
            )
        ]
    )
    # then
    assert Installation.objects.filter(dwelling=first.dwelling).count() == 2
    assert Installation.objects.filter(dwelling=first.dwelling, removed_on=None).count() == 1


def test_putting_a_removed_system_back_beside_a_working_one_is_refused(db):
    first = InstallationFactory(installed_on=date(2023, 5, 1), removed_on=date(2024, 1, 15))
    InstallationFactory(
        application=ApplicationFactory(dwelling=first.dwelling, program_year=ProgramYear.objects.get(year=2024)),
        installed_on=date(2024, 5, 1),
    )

    error = refused(updating(first, removed_on=None))

    assert_refused_by(error, "installation_one_working_system_per_dwelling")


def test_a_status_change_may_start_from_nothing(db):
    change = StatusChangeFactory(from_status="", to_status=Status.REGISTERED)

    assert StatusChange.objects.get(pk=change.pk).from_status == ""


def test_a_user_of_every_role_is_stored(db):
    users = [UserFactory(role=role) for role in User.Role.values]

    assert {user.role for user in User.objects.filter(pk__in=[u.pk for u in users])} == set(User.Role.values)


def test_an_applicant_curp_shorter_than_18_is_refused_even_when_written_raw(db):
    applicant = ApplicantFactory()

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE installations_applicant SET curp = %s WHERE id = %s", ["ABC", applicant.pk])
