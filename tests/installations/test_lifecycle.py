"""The transition table, exhaustively: every step it lists works with its evidence, every other is refused."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import override

from installations.exceptions import TransitionError
from installations.lifecycle import SYSTEM_STATUSES, TRANSITIONS, Status, status_label
from installations.models import Application, Modality, StatusChange, TechnicalVisit
from installations.services import application_transition
from tests.factories import (
    ApplicationFactory,
    InstallationFactory,
    MaintenanceVisitFactory,
    PaymentFactory,
    StatusChangeFactory,
    TechnicalVisitFactory,
)

MEXICO_CITY = ZoneInfo("America/Mexico_City")

LEGAL_STEPS = [(source, target) for source, row in TRANSITIONS.items() for target in row]
ILLEGAL_STEPS = [(source, target) for source, row in TRANSITIONS.items() for target in Status.values if target not in row]
# States after the technical visit: an application there has a visit with an outcome.
VISITED = {
    Status.VISIT_DONE,
    Status.ADJUSTMENTS_PENDING,
    Status.VIABLE,
    Status.PAYMENT_PENDING,
    Status.PAID,
    Status.INSTALLATION_SCHEDULED,
    *SYSTEM_STATUSES,
}
PARTIAL_SUBSIDY_STATES = {Status.PAYMENT_PENDING, Status.PAID}


def step_id(step: tuple[str, str]) -> str:
    return f"{step[0]}->{step[1]}"


def given_an_application_with_the_evidence_for(source: str, target: str) -> Application:
    """An application in ``source`` with everything its history and the step to ``target`` require."""
    partial = source in PARTIAL_SUBSIDY_STATES or target in PARTIAL_SUBSIDY_STATES
    application = ApplicationFactory(status=source, modality=Modality.PARTIAL_SUBSIDY if partial else Modality.TOTAL_SUBSIDY)
    if source in VISITED or target == Status.VISIT_DONE:
        if target == Status.NOT_VIABLE:
            TechnicalVisitFactory(application=application, outcome=TechnicalVisit.Outcome.NOT_VIABLE)
        elif Status.ADJUSTMENTS_PENDING in (source, target):
            TechnicalVisitFactory(
                application=application,
                outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
                required_adjustments="Cambiar la bajada del techo.",
                adjustments_verified_on=date(2023, 3, 20) if source == Status.ADJUSTMENTS_PENDING else None,
            )
        else:
            TechnicalVisitFactory(application=application, outcome=TechnicalVisit.Outcome.VIABLE)
    if target == Status.VISIT_SCHEDULED:
        TechnicalVisitFactory(application=application, visited_on=None, outcome=None)
    if Status.PAID in (source, target):
        PaymentFactory(application=application)
    if source in SYSTEM_STATUSES or target == Status.INSTALLED:
        installation = InstallationFactory(application=application)
        if source == Status.NEEDS_MAINTENANCE:
            StatusChangeFactory(
                application=application,
                from_status=Status.ACTIVE,
                to_status=Status.NEEDS_MAINTENANCE,
                changed_at=timezone.now() - timedelta(days=3),
            )
            MaintenanceVisitFactory(installation=installation, visited_on=timezone.localdate())
    return Application.objects.get(pk=application.pk)


def english(value: str) -> str:
    with override("en"):
        return status_label(value)


# --- The table itself ---------------------------------------------------------------------------------
def test_every_status_has_a_row_in_the_transition_table():
    assert set(TRANSITIONS) == set(Status.values)
    assert all(target in Status.values for row in TRANSITIONS.values() for target in row)


def test_no_state_lists_itself_as_a_next_step():
    assert all(source not in row for source, row in TRANSITIONS.items())


# --- Every legal step -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "target"), LEGAL_STEPS, ids=map(step_id, LEGAL_STEPS))
def test_a_step_in_the_table_succeeds_when_its_evidence_is_recorded(source, target, technician):
    # given
    application = given_an_application_with_the_evidence_for(source, target)
    history_before = StatusChange.objects.filter(application=application).count()
    # when
    returned = application_transition(application=application, to=target, by=technician, note="Paso de prueba.")
    # then
    application.refresh_from_db()
    assert application.status == target == returned.status
    assert application.status_changed_at is not None
    assert StatusChange.objects.filter(application=application).count() == history_before + 1
    change = StatusChange.objects.filter(application=application).latest("pk")
    assert (change.from_status, change.to_status) == (source, target)
    assert change.changed_by == technician
    assert change.note == "Paso de prueba."
    assert change.changed_at == application.status_changed_at


# --- Every illegal step -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "target"), ILLEGAL_STEPS, ids=map(step_id, ILLEGAL_STEPS))
def test_a_step_not_in_the_table_is_refused_and_changes_nothing(source, target, db):
    # given
    application = ApplicationFactory(status=source)
    history_before = StatusChange.objects.count()
    # when
    with pytest.raises(TransitionError) as caught:
        application_transition(application=application, to=target, by=None)
    # then
    error = caught.value
    assert (error.current, error.wanted, error.missing) == (source, target, [])
    assert error.code == "invalid_transition"
    assert error.in_language("es-mx") == (
        f"No se puede pasar de «{status_label(source)}» a «{status_label(target)}»: el proceso no lo permite."
    )
    in_english = error.in_language("en")
    assert english(source) in in_english
    assert english(target) in in_english
    application.refresh_from_db()
    assert application.status == source
    assert StatusChange.objects.count() == history_before


def test_an_unknown_target_status_is_a_validation_error_on_to(db):
    # given
    application = ApplicationFactory(status=Status.REGISTERED)
    # when
    with pytest.raises(ValidationError) as caught:
        application_transition(application=application, to="approved", by=None)
    # then
    assert "to" in caught.value.message_dict
    application.refresh_from_db()
    assert application.status == Status.REGISTERED
    assert not StatusChange.objects.filter(application=application).exists()


# --- Missing evidence -------------------------------------------------------------------------------------
def assert_refused_for_missing_evidence(application: Application, *, wanted: str, missing: str) -> None:
    """The step is refused, names current, wanted and what is missing, and leaves no trace."""
    current = application.status
    history_before = StatusChange.objects.count()

    with pytest.raises(TransitionError) as caught:
        application_transition(application=application, to=wanted, by=None)

    error = caught.value
    assert (error.current, error.wanted) == (current, wanted)
    assert error.code == "missing_evidence"
    assert [str(item) for item in error.missing] == [missing]
    assert error.in_language("es-mx") == (
        f"No se puede pasar de «{status_label(current)}» a «{status_label(wanted)}»: falta {missing}."
    )
    in_english = error.in_language("en")
    assert english(current) in in_english
    assert english(wanted) in in_english
    with override("en"):
        assert all(str(item) in in_english for item in error.missing)
    application.refresh_from_db()
    assert application.status == current
    assert StatusChange.objects.count() == history_before


def test_installation_cannot_be_scheduled_without_a_viable_visit(db):
    # given a viable application whose only recorded visit found the home not viable
    application = ApplicationFactory(status=Status.VIABLE)
    TechnicalVisitFactory(application=application, outcome=TechnicalVisit.Outcome.NOT_VIABLE)
    # when / then
    assert_refused_for_missing_evidence(
        application, wanted=Status.INSTALLATION_SCHEDULED, missing="una visita técnica con resultado viable"
    )


def test_installation_cannot_be_scheduled_without_any_visit(db):
    application = ApplicationFactory(status=Status.VIABLE)

    assert_refused_for_missing_evidence(
        application, wanted=Status.INSTALLATION_SCHEDULED, missing="una visita técnica con resultado viable"
    )


def test_partial_subsidy_installation_cannot_be_scheduled_before_the_payment(db):
    # given a viable partial-subsidy application with a viable visit and no payment
    application = ApplicationFactory(status=Status.VIABLE, modality=Modality.PARTIAL_SUBSIDY)
    TechnicalVisitFactory(application=application)
    # when / then
    assert_refused_for_missing_evidence(
        application, wanted=Status.INSTALLATION_SCHEDULED, missing="el pago registrado del 50 % (subsidio parcial)"
    )


def test_an_application_is_not_installed_without_an_installation_record(db):
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED)
    TechnicalVisitFactory(application=application)

    assert_refused_for_missing_evidence(
        application,
        wanted=Status.INSTALLED,
        missing="el registro de la instalación (fecha, instaladora, tanque y componentes)",
    )


def test_an_application_is_not_paid_without_a_payment(db):
    application = ApplicationFactory(status=Status.PAYMENT_PENDING, modality=Modality.PARTIAL_SUBSIDY)
    TechnicalVisitFactory(application=application)

    assert_refused_for_missing_evidence(application, wanted=Status.PAID, missing="el pago registrado del 50 % (subsidio parcial)")


def test_a_total_subsidy_application_never_waits_for_a_payment(db):
    application = ApplicationFactory(status=Status.VIABLE, modality=Modality.TOTAL_SUBSIDY)
    TechnicalVisitFactory(application=application)

    assert_refused_for_missing_evidence(
        application,
        wanted=Status.PAYMENT_PENDING,
        missing="que la solicitud sea de subsidio parcial (50 %); las de subsidio total no pagan",
    )


def test_adjustments_must_be_verified_before_the_application_is_viable(db):
    application = ApplicationFactory(status=Status.ADJUSTMENTS_PENDING)
    TechnicalVisitFactory(
        application=application,
        outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
        required_adjustments="Impermeabilizar la losa.",
    )

    assert_refused_for_missing_evidence(
        application,
        wanted=Status.VIABLE,
        missing="la verificación de las adecuaciones pedidas en la visita técnica",
    )


def test_a_visit_is_not_done_until_its_outcome_is_recorded(db):
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED)
    TechnicalVisitFactory(application=application, visited_on=None, outcome=None)

    assert_refused_for_missing_evidence(
        application, wanted=Status.VISIT_DONE, missing="el registro de una visita técnica realizada"
    )


def test_the_outcome_state_must_match_the_latest_recorded_visit(db):
    # given a first visit found adjustments were needed, the second one found the home viable
    application = ApplicationFactory(status=Status.VISIT_DONE)
    TechnicalVisitFactory(
        application=application,
        visited_on=date(2023, 3, 2),
        outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
        required_adjustments="Cambiar canaleta.",
    )
    TechnicalVisitFactory(application=application, visited_on=date(2023, 3, 9), outcome=TechnicalVisit.Outcome.VIABLE)
    # when / then
    assert_refused_for_missing_evidence(
        application,
        wanted=Status.ADJUSTMENTS_PENDING,
        missing="una visita técnica con resultado «viable con adecuaciones»",
    )


def test_a_flagged_system_returns_to_operation_only_after_a_maintenance_visit(db):
    # given a system flagged today, whose last maintenance visit was before the flag
    application = ApplicationFactory(status=Status.NEEDS_MAINTENANCE)
    installation = InstallationFactory(application=application)
    MaintenanceVisitFactory(installation=installation, visited_on=timezone.localdate() - timedelta(days=30))
    StatusChangeFactory(application=application, from_status=Status.ACTIVE, to_status=Status.NEEDS_MAINTENANCE)
    # when / then
    assert_refused_for_missing_evidence(
        application,
        wanted=Status.ACTIVE,
        missing="una visita de mantenimiento realizada después de marcar el sistema",
    )


def test_a_maintenance_visit_the_evening_the_system_was_flagged_counts(db):
    # given a system flagged at 20:00 in Mexico City (already the next day in UTC) ...
    application = ApplicationFactory(status=Status.ACTIVE)
    installation = InstallationFactory(application=application)
    flagged_at = datetime(2024, 5, 10, 20, 0, tzinfo=MEXICO_CITY)
    application_transition(application=application, to=Status.NEEDS_MAINTENANCE, by=None, at=flagged_at)
    # ... and visited that same evening
    MaintenanceVisitFactory(installation=installation, visited_on=date(2024, 5, 10))
    # when
    application_transition(application=application, to=Status.ACTIVE, by=None)
    # then
    application.refresh_from_db()
    assert application.status == Status.ACTIVE


# --- Side effects of a step -------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [Status.ACTIVE, Status.NEEDS_MAINTENANCE, Status.INACTIVE, Status.INSTALLED])
def test_removing_a_system_records_the_removal_date_on_the_installation(source, db):
    # given
    application = ApplicationFactory(status=source)
    installation = InstallationFactory(application=application, installed_on=date(2023, 5, 1))
    removed_at = datetime(2024, 7, 15, 21, 30, tzinfo=MEXICO_CITY)  # already 16 July in UTC
    # when
    application_transition(application=application, to=Status.REMOVED, by=None, at=removed_at)
    # then
    installation.refresh_from_db()
    assert installation.removed_on == date(2024, 7, 15)


def test_a_step_updates_the_callers_instance_too(db):
    application = ApplicationFactory(status=Status.REGISTERED)

    application_transition(application=application, to=Status.DOCUMENTS_PENDING, by=None)

    assert application.status == Status.DOCUMENTS_PENDING


def test_a_request_cannot_be_marked_visit_scheduled_without_a_planned_visit(db):
    application = ApplicationFactory(status=Status.DOCUMENTS_COMPLETE)
    assert_refused_for_missing_evidence(
        application, wanted=Status.VISIT_SCHEDULED, missing="una visita técnica programada (fecha y técnica/o)"
    )
