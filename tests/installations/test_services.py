"""The write services: registration, visits, payment, installation and maintenance, end to end."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from installations.exceptions import EligibilityError, TransitionError
from installations.identifiers import folio_is_valid, verification_code_hash, verification_code_matches
from installations.lifecycle import Status
from installations.models import (
    Applicant,
    Application,
    Component,
    Dwelling,
    Installation,
    MaintenanceVisit,
    Modality,
    Payment,
    ProgramYear,
    StatusChange,
    TechnicalVisit,
)
from installations.services import (
    application_register,
    application_transition,
    installation_record,
    maintenance_visit_record,
    payment_record,
    technical_visit_record,
    technical_visit_schedule,
    technical_visit_verify_adjustments,
)
from tests.factories import (
    ApplicationFactory,
    ColoniaFactory,
    EligibleColoniaFactory,
    InstallationFactory,
    InstallerFactory,
    TechnicalVisitFactory,
)

CURP = "GOMA850101HDFRRN00"
CONSENT_AT = datetime(2023, 2, 1, 16, 0, tzinfo=UTC)
TANK_AND_TLALOQUE = [
    {"kind": Component.Kind.ROOF_TANK, "size": Decimal("2500"), "unit": Component.Unit.LITRES},
    {"kind": Component.Kind.TLALOQUE, "size": Decimal("1"), "unit": Component.Unit.UNITS},
]


@pytest.fixture
def program_year(db) -> ProgramYear:
    return ProgramYear.objects.get(year=2023)


@pytest.fixture
def total_subsidy_colonia(program_year):
    return EligibleColoniaFactory(program_year=program_year, modality=Modality.TOTAL_SUBSIDY).colonia


@pytest.fixture
def partial_subsidy_colonia(program_year):
    return EligibleColoniaFactory(program_year=program_year, modality=Modality.PARTIAL_SUBSIDY).colonia


def applicant_data(**overrides: object) -> dict[str, object]:
    return {
        "first_name": "Guadalupe",
        "first_surname": "Gómez",
        "second_surname": "Martínez",
        "curp": CURP,
        "sex": "M",
        "birth_date": date(1985, 1, 1),
        "phone": "5587654321",
        "woman_headed_household": True,
    } | overrides


def dwelling_data(colonia, **overrides: object) -> dict[str, object]:
    return {
        "colonia": colonia,
        "street_address": "Av. Nuevo León 12",
        "postal_code": "12000",
        "occupants": 5,
        "water_supply": Dwelling.WaterSupply.TANDEO,
        "tandeo_days_per_week": 2,
        "roof_material": "concreto",
        "roof_area_m2": Decimal("40.00"),
    } | overrides


def register(program_year, colonia, *, by=None, **applicant_overrides):
    return application_register(
        program_year=program_year,
        applicant=applicant_data(**applicant_overrides),
        dwelling=dwelling_data(colonia),
        channel=Application.Channel.BRIGADE,
        privacy_consent_at=CONSENT_AT,
        by=by,
    )


def row_counts() -> dict[str, int]:
    models = (Applicant, Dwelling, Application, StatusChange, TechnicalVisit, Payment, Installation, Component, MaintenanceVisit)
    return {model.__name__: model.objects.count() for model in models}


def history(application: Application) -> list[tuple[str, str]]:
    return list(StatusChange.objects.filter(application=application).order_by("pk").values_list("from_status", "to_status"))


def given_a_scheduled_visit(colonia, program_year, coordinator, technician) -> tuple[Application, TechnicalVisit]:
    application, _code = register(program_year, colonia, by=coordinator)
    application_transition(application=application, to=Status.DOCUMENTS_COMPLETE, by=coordinator)
    visit = technical_visit_schedule(
        application=application, technician=technician, scheduled_on=timezone.localdate(), by=coordinator
    )
    return application, visit


# --- Registration -------------------------------------------------------------------------------------
def test_registering_returns_a_request_with_a_valid_folio_and_a_code_stored_only_as_a_hash(
    program_year, total_subsidy_colonia, coordinator
):
    # when
    application, code = register(program_year, total_subsidy_colonia, by=coordinator)
    # then
    application.refresh_from_db()
    assert folio_is_valid(application.folio)
    assert code.isdigit() and len(code) == 6
    assert application.verification_code_hash == verification_code_hash(code)
    assert application.verification_code_hash != code
    assert code not in application.verification_code_hash
    assert verification_code_matches(code, application.verification_code_hash)
    assert application.status == Status.REGISTERED
    assert application.modality == Modality.TOTAL_SUBSIDY
    assert application.applicant.curp == CURP
    assert application.dwelling.colonia == total_subsidy_colonia


def test_registering_writes_the_first_line_of_the_history(program_year, total_subsidy_colonia, coordinator):
    application, _code = register(program_year, total_subsidy_colonia, by=coordinator)

    change = StatusChange.objects.get(application=application)
    assert (change.from_status, change.to_status) == ("", Status.REGISTERED)
    assert change.changed_by == coordinator
    assert change.changed_at == application.status_changed_at


def test_registering_takes_the_modality_of_the_colonias_listing(program_year, partial_subsidy_colonia):
    application, _code = register(program_year, partial_subsidy_colonia)

    assert application.modality == Modality.PARTIAL_SUBSIDY


def test_a_curp_written_in_lower_case_is_stored_in_upper_case(program_year, total_subsidy_colonia):
    application, _code = register(program_year, total_subsidy_colonia, curp=f" {CURP.lower()} ")

    assert application.applicant.curp == CURP


def test_two_registrations_get_different_folios(program_year, total_subsidy_colonia):
    first, _ = register(program_year, total_subsidy_colonia, curp=CURP)
    second, _ = register(program_year, total_subsidy_colonia, curp="GOMA850101MDFRRN00")

    assert first.folio != second.folio


def test_a_colonia_not_listed_for_the_year_is_refused_and_nothing_is_written(program_year):
    # given a colonia that is listed in 2022 but not in 2023
    colonia = ColoniaFactory()
    EligibleColoniaFactory(colonia=colonia, program_year=ProgramYear.objects.get(year=2022))
    before = row_counts()
    # when
    with pytest.raises(EligibilityError) as caught:
        register(program_year, colonia)
    # then
    assert caught.value.field == "colonia"
    assert colonia.name in caught.value.in_language("es-mx")
    assert "2023" in caught.value.in_language("es-mx")
    assert row_counts() == before


def test_a_second_open_request_for_one_curp_in_one_year_is_refused(program_year, total_subsidy_colonia):
    # given
    register(program_year, total_subsidy_colonia)
    before = row_counts()
    # when
    with pytest.raises(EligibilityError) as caught:
        register(program_year, total_subsidy_colonia, first_name="Otro nombre")
    # then
    assert caught.value.field == "curp"
    assert row_counts() == before
    assert Applicant.objects.get(curp=CURP).first_name == "Guadalupe"


def test_after_withdrawing_the_same_curp_may_register_again(program_year, total_subsidy_colonia):
    # given
    first, _code = register(program_year, total_subsidy_colonia)
    application_transition(application=first, to=Status.WITHDRAWN, by=None)
    # when
    second, _code = register(program_year, total_subsidy_colonia)
    # then
    assert second.pk != first.pk
    assert second.applicant == first.applicant
    assert Application.objects.open().filter(applicant=first.applicant, program_year=program_year).get() == second


def test_the_same_curp_may_apply_in_another_year(total_subsidy_colonia):
    year_2024 = ProgramYear.objects.get(year=2024)
    EligibleColoniaFactory(program_year=year_2024, colonia=total_subsidy_colonia)
    register(ProgramYear.objects.get(year=2023), total_subsidy_colonia)

    application, _code = register(year_2024, total_subsidy_colonia)

    assert application.program_year == year_2024


def test_a_registration_without_the_privacy_consent_is_refused_and_nothing_is_written(program_year, total_subsidy_colonia):
    before = row_counts()

    with pytest.raises(EligibilityError) as caught:
        application_register(
            program_year=program_year,
            applicant=applicant_data(),
            dwelling=dwelling_data(total_subsidy_colonia),
            channel=Application.Channel.PORTAL,
            privacy_consent_at=None,
        )

    assert caught.value.field == "privacy_consent"
    assert row_counts() == before


@pytest.mark.parametrize("curp", ["GOMA850101HDFRRN05", "GOMA850101HDFRRN0", "GOMA851301HDFRRN00", "1234567890ABCDEFGH"])
def test_an_invalid_curp_is_refused_on_the_curp_field_and_nothing_is_written(curp, program_year, total_subsidy_colonia):
    before = row_counts()

    with pytest.raises(ValidationError) as caught:
        register(program_year, total_subsidy_colonia, curp=curp)

    assert "curp" in caught.value.message_dict
    assert row_counts() == before


def test_a_home_outside_mexico_city_is_refused_before_anything_is_written(program_year, total_subsidy_colonia):
    before = row_counts()

    with pytest.raises(ValidationError) as caught:
        application_register(
            program_year=program_year,
            applicant=applicant_data(),
            dwelling=dwelling_data(total_subsidy_colonia, latitude=Decimal("19.041400"), longitude=Decimal("-98.206300")),
            channel=Application.Channel.PORTAL,
            privacy_consent_at=CONSENT_AT,
        )

    assert "fuera de la Ciudad de México" in " ".join(caught.value.message_dict["longitude"])
    assert row_counts() == before


# --- The whole way, total subsidy ----------------------------------------------------------------------
def test_a_total_subsidy_request_goes_from_registration_to_a_working_system(
    program_year, total_subsidy_colonia, coordinator, technician
):
    today = timezone.localdate()
    # given a registered request whose documents are complete
    application, _code = register(program_year, total_subsidy_colonia, by=coordinator)
    application_transition(application=application, to=Status.DOCUMENTS_COMPLETE, by=coordinator)
    # when the visit is planned
    visit = technical_visit_schedule(application=application, technician=technician, scheduled_on=today, by=coordinator)
    # then the technician is assigned and the request waits for the visit
    application.refresh_from_db()
    assert application.status == Status.VISIT_SCHEDULED
    assert application.assigned_technician == technician
    assert (visit.outcome, visit.visited_on) == (None, None)

    # when the visit finds the home viable
    technical_visit_record(
        visit=visit,
        visited_on=today,
        outcome=TechnicalVisit.Outcome.VIABLE,
        measured_roof_area_m2=Decimal("38.50"),
        measured_roof_material="concreto",
        by=technician,
    )
    application.refresh_from_db()
    assert application.status == Status.VIABLE

    # when the installation is planned and then recorded
    application_transition(application=application, to=Status.INSTALLATION_SCHEDULED, by=coordinator)
    installation = installation_record(
        application=application,
        technician=technician,
        installer=InstallerFactory(),
        installed_on=today,
        training_on=today,
        components=TANK_AND_TLALOQUE,
        by=technician,
    )
    # then the system is at the request's home with its parts
    assert application.status == Status.INSTALLED
    assert installation.dwelling == application.dwelling
    assert sorted(installation.components.values_list("kind", flat=True)) == ["tinaco", "tlaloque"]

    # when it is put into operation
    application_transition(application=application, to=Status.ACTIVE, by=coordinator)
    # then the history tells every step, in order
    application.refresh_from_db()
    assert application.status == Status.ACTIVE
    assert history(application) == [
        ("", Status.REGISTERED),
        (Status.REGISTERED, Status.DOCUMENTS_COMPLETE),
        (Status.DOCUMENTS_COMPLETE, Status.VISIT_SCHEDULED),
        (Status.VISIT_SCHEDULED, Status.VISIT_DONE),
        (Status.VISIT_DONE, Status.VIABLE),
        (Status.VIABLE, Status.INSTALLATION_SCHEDULED),
        (Status.INSTALLATION_SCHEDULED, Status.INSTALLED),
        (Status.INSTALLED, Status.ACTIVE),
    ]


# --- The whole way, partial subsidy -------------------------------------------------------------------------
def test_a_partial_subsidy_request_pays_its_half_before_installation(
    program_year, partial_subsidy_colonia, coordinator, technician
):
    today = timezone.localdate()
    # given a partial-subsidy request found viable
    application, visit = given_a_scheduled_visit(partial_subsidy_colonia, program_year, coordinator, technician)
    technical_visit_record(visit=visit, visited_on=today, outcome=TechnicalVisit.Outcome.VIABLE, by=technician)
    application.refresh_from_db()
    # when it waits for the payment, the installation cannot be scheduled
    application_transition(application=application, to=Status.PAYMENT_PENDING, by=coordinator)
    with pytest.raises(TransitionError):
        application_transition(application=application, to=Status.INSTALLATION_SCHEDULED, by=coordinator)
    # when the payment is recorded
    payment = payment_record(
        application=application,
        amount_mxn=Decimal("3500.00"),
        method=Payment.Method.TRANSFER,
        paid_on=today,
        agreement_reference="CONV-2023-0001",
        by=coordinator,
    )
    # then the request is paid and goes on to installation
    application.refresh_from_db()
    assert application.status == Status.PAID
    assert application.payment == payment
    application_transition(application=application, to=Status.INSTALLATION_SCHEDULED, by=coordinator)
    installation_record(
        application=application, technician=technician, installer=InstallerFactory(), installed_on=today, by=technician
    )
    application.refresh_from_db()
    assert application.status == Status.INSTALLED
    assert history(application)[4:] == [
        (Status.VISIT_DONE, Status.VIABLE),
        (Status.VIABLE, Status.PAYMENT_PENDING),
        (Status.PAYMENT_PENDING, Status.PAID),
        (Status.PAID, Status.INSTALLATION_SCHEDULED),
        (Status.INSTALLATION_SCHEDULED, Status.INSTALLED),
    ]


def test_a_payment_for_a_request_not_waiting_for_one_is_refused_and_not_stored(db):
    application = ApplicationFactory(status=Status.VIABLE, modality=Modality.TOTAL_SUBSIDY)
    TechnicalVisitFactory(application=application)

    with pytest.raises(TransitionError):
        payment_record(
            application=application, amount_mxn=Decimal("3500"), method=Payment.Method.CHEQUE, paid_on=date(2023, 4, 1), by=None
        )

    assert not Payment.objects.filter(application=application).exists()


def test_a_second_payment_is_refused(db):
    application = ApplicationFactory(status=Status.PAYMENT_PENDING, modality=Modality.PARTIAL_SUBSIDY)
    payment_record(application=application, amount_mxn=Decimal("3500"), method="transferencia", paid_on=date(2023, 4, 1), by=None)

    with pytest.raises(ValidationError) as caught:
        payment_record(application=application, amount_mxn=Decimal("3500"), method="cheque", paid_on=date(2023, 4, 2), by=None)

    assert "application" in caught.value.message_dict
    assert Payment.objects.filter(application=application).count() == 1


def test_a_payment_of_nothing_is_a_validation_error_not_a_database_error(db):
    application = ApplicationFactory(status=Status.PAYMENT_PENDING, modality=Modality.PARTIAL_SUBSIDY)

    with pytest.raises(ValidationError) as caught:
        payment_record(
            application=application, amount_mxn=Decimal("0"), method="transferencia", paid_on=date(2023, 4, 1), by=None
        )

    assert caught.value.message_dict["amount_mxn"] == ["Debe ser mayor que cero."]
    application.refresh_from_db()
    assert application.status == Status.PAYMENT_PENDING
    assert not Payment.objects.filter(application=application).exists()


# --- Technical visits ----------------------------------------------------------------------------------------
def test_a_visit_viable_with_adjustments_must_say_which_adjustments(program_year, total_subsidy_colonia, coordinator, technician):
    # given
    application, visit = given_a_scheduled_visit(total_subsidy_colonia, program_year, coordinator, technician)
    before = row_counts()
    # when
    with pytest.raises(ValidationError) as caught:
        technical_visit_record(
            visit=visit,
            visited_on=timezone.localdate(),
            outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
            required_adjustments="   ",
            by=technician,
        )
    # then
    assert "required_adjustments" in caught.value.message_dict
    visit.refresh_from_db()
    application.refresh_from_db()
    assert (visit.outcome, visit.visited_on) == (None, None)
    assert application.status == Status.VISIT_SCHEDULED
    assert row_counts() == before


def test_adjustments_once_verified_make_the_request_viable(program_year, total_subsidy_colonia, coordinator, technician):
    # given a visit that asked for adjustments
    today = timezone.localdate()
    application, visit = given_a_scheduled_visit(total_subsidy_colonia, program_year, coordinator, technician)
    technical_visit_record(
        visit=visit,
        visited_on=today - timedelta(days=7),
        outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
        required_adjustments="Sellar grietas de la losa y colocar bajante de 3 pulgadas.",
        by=technician,
    )
    application.refresh_from_db()
    assert application.status == Status.ADJUSTMENTS_PENDING
    # when the adjustments are verified
    verified = technical_visit_verify_adjustments(visit=visit, verified_on=today, by=technician)
    # then
    application.refresh_from_db()
    assert verified.adjustments_verified_on == today
    assert application.status == Status.VIABLE
    assert history(application)[-3:] == [
        (Status.VISIT_SCHEDULED, Status.VISIT_DONE),
        (Status.VISIT_DONE, Status.ADJUSTMENTS_PENDING),
        (Status.ADJUSTMENTS_PENDING, Status.VIABLE),
    ]


def test_a_visit_that_finds_the_home_not_viable_closes_the_request(program_year, total_subsidy_colonia, coordinator, technician):
    application, visit = given_a_scheduled_visit(total_subsidy_colonia, program_year, coordinator, technician)

    technical_visit_record(
        visit=visit,
        visited_on=timezone.localdate(),
        outcome=TechnicalVisit.Outcome.NOT_VIABLE,
        notes="Techo de cartón.",
        by=technician,
    )

    application.refresh_from_db()
    assert application.status == Status.NOT_VIABLE
    assert not Application.objects.open().filter(pk=application.pk).exists()


def test_a_visit_cannot_be_recorded_in_the_future_or_twice(program_year, total_subsidy_colonia, coordinator, technician):
    today = timezone.localdate()
    _application, visit = given_a_scheduled_visit(total_subsidy_colonia, program_year, coordinator, technician)

    with pytest.raises(ValidationError) as future:
        technical_visit_record(visit=visit, visited_on=today + timedelta(days=1), outcome="viable", by=technician)
    technical_visit_record(visit=visit, visited_on=today, outcome="viable", by=technician)
    with pytest.raises(ValidationError) as twice:
        technical_visit_record(visit=visit, visited_on=today, outcome="not_viable", by=technician)

    assert "visited_on" in future.value.message_dict
    assert "outcome" in twice.value.message_dict
    visit.refresh_from_db()
    assert visit.outcome == TechnicalVisit.Outcome.VIABLE


def test_only_a_technician_can_be_sent_to_a_visit(program_year, total_subsidy_colonia, coordinator):
    application, _code = register(program_year, total_subsidy_colonia)
    application_transition(application=application, to=Status.DOCUMENTS_COMPLETE, by=coordinator)

    with pytest.raises(ValidationError) as caught:
        technical_visit_schedule(application=application, technician=coordinator, scheduled_on=date(2023, 3, 1), by=coordinator)

    assert "technician" in caught.value.message_dict
    application.refresh_from_db()
    assert application.status == Status.DOCUMENTS_COMPLETE
    assert not TechnicalVisit.objects.filter(application=application).exists()


# --- Installation ------------------------------------------------------------------------------------------
def given_a_request_ready_for_installation(**factory_values: object) -> Application:
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED, **factory_values)
    TechnicalVisitFactory(application=application)
    return application


def test_a_second_working_system_at_one_dwelling_is_refused(technician):
    # given a dwelling with a working system from 2023, and a 2024 request for the same home
    first = InstallationFactory()
    second = given_a_request_ready_for_installation(dwelling=first.dwelling, program_year=ProgramYear.objects.get(year=2024))
    before = row_counts()
    # when
    with pytest.raises(ValidationError) as caught:
        installation_record(
            application=second, technician=technician, installer=InstallerFactory(), installed_on=date(2024, 5, 1), by=technician
        )
    # then
    assert "dwelling" in caught.value.message_dict
    assert row_counts() == before
    second.refresh_from_db()
    assert second.status == Status.INSTALLATION_SCHEDULED


def test_a_new_system_may_replace_one_that_was_removed(technician):
    # given the first system at the dwelling was taken out
    first = InstallationFactory(installed_on=date(2023, 5, 1))
    application_transition(application=first.application, to=Status.REMOVED, by=technician)
    second = given_a_request_ready_for_installation(dwelling=first.dwelling, program_year=ProgramYear.objects.get(year=2024))
    # when
    installation = installation_record(
        application=second, technician=technician, installer=InstallerFactory(), installed_on=timezone.localdate(), by=technician
    )
    # then
    assert Installation.objects.filter(dwelling=first.dwelling, removed_on=None).get() == installation
    assert second.status == Status.INSTALLED


def test_training_before_the_installation_is_refused_on_training_on(technician):
    application = given_a_request_ready_for_installation()

    with pytest.raises(ValidationError) as caught:
        installation_record(
            application=application,
            technician=technician,
            installer=InstallerFactory(),
            installed_on=date(2023, 5, 2),
            training_on=date(2023, 5, 1),
            by=technician,
        )

    assert "training_on" in caught.value.message_dict
    assert not Installation.objects.filter(application=application).exists()


def test_a_faulty_component_refuses_the_whole_installation(technician):
    application = given_a_request_ready_for_installation()
    before = row_counts()

    with pytest.raises(ValidationError) as caught:
        installation_record(
            application=application,
            technician=technician,
            installer=InstallerFactory(),
            installed_on=date(2023, 5, 2),
            components=[TANK_AND_TLALOQUE[0], {"kind": "antena", "size": Decimal("1"), "unit": "pza"}],
            by=technician,
        )

    assert "components[1]" in caught.value.message_dict
    assert row_counts() == before


def test_a_request_records_only_one_installation(technician):
    installation = InstallationFactory(application=given_a_request_ready_for_installation())

    with pytest.raises(ValidationError) as caught:
        installation_record(
            application=installation.application,
            technician=technician,
            installer=InstallerFactory(),
            installed_on=date(2023, 5, 2),
            by=technician,
        )

    assert "application" in caught.value.message_dict


# --- Maintenance ----------------------------------------------------------------------------------------------
def test_a_maintenance_visit_returns_a_flagged_system_to_operation(technician):
    # given a working system flagged as needing maintenance
    today = timezone.localdate()
    installation = InstallationFactory(application=ApplicationFactory(status=Status.ACTIVE))
    application_transition(application=installation.application, to=Status.NEEDS_MAINTENANCE, by=technician)
    # when
    visit = maintenance_visit_record(
        installation=Installation.objects.get(pk=installation.pk),
        kind=MaintenanceVisit.Kind.REPAIR,
        visited_on=today,
        next_due_on=today + timedelta(days=180),
        technician=technician,
        checklist={"roof_cleaned": True, "tlaloque_purged": True},
        findings="Bajante tapada con hojas.",
        by=technician,
    )
    # then
    installation.application.refresh_from_db()
    assert installation.application.status == Status.ACTIVE
    assert (visit.roof_cleaned, visit.tlaloque_purged, visit.tank_cleaned) == (True, True, False)
    change = StatusChange.objects.filter(application=installation.application).latest("pk")
    assert (change.from_status, change.to_status) == (Status.NEEDS_MAINTENANCE, Status.ACTIVE)
    assert change.note == "Mantenimiento realizado."
    assert change.changed_by == technician


def test_a_routine_visit_to_a_working_system_changes_no_status(technician):
    installation = InstallationFactory(application=ApplicationFactory(status=Status.ACTIVE))
    history_before = StatusChange.objects.count()

    maintenance_visit_record(
        installation=installation,
        kind=MaintenanceVisit.Kind.PRE_SEASON,
        visited_on=date(2024, 4, 1),
        next_due_on=date(2024, 10, 1),
        performed_by=MaintenanceVisit.PerformedBy.HOUSEHOLD,
        by=None,
    )

    installation.application.refresh_from_db()
    assert installation.application.status == Status.ACTIVE
    assert StatusChange.objects.count() == history_before
    assert installation.maintenance_visits.count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"next_due_on": date(2024, 4, 1)}, "next_due_on"),
        ({"next_due_on": date(2024, 3, 1)}, "next_due_on"),
        ({"checklist": {"roof_cleaned": True, "gutter_painted": True}}, "checklist"),
    ],
)
def test_a_maintenance_visit_with_bad_data_is_refused(values, field, db):
    installation = InstallationFactory()
    arguments = {"kind": MaintenanceVisit.Kind.FOLLOW_UP, "visited_on": date(2024, 4, 1), "next_due_on": date(2024, 10, 1)}

    with pytest.raises(ValidationError) as caught:
        maintenance_visit_record(installation=installation, by=None, **(arguments | values))

    assert field in caught.value.message_dict
    assert not installation.maintenance_visits.exists()
