"""Registration under pressure: parallel requests for one CURP, and CURPs known to strangers."""

import threading

import pytest
from django.db import connection

from installations.exceptions import EligibilityError
from installations.lifecycle import Status
from installations.models import Applicant, Application, ProgramYear
from installations.services import application_register, application_transition
from tests.factories import EligibleColoniaFactory, UserFactory
from tests.installations.test_services import CONSENT_AT, CURP, applicant_data, dwelling_data


def test_an_anonymous_registration_does_not_overwrite_a_known_persons_data(db):
    # given a person registered last year, whose request was closed
    colonia = EligibleColoniaFactory(program_year=ProgramYear.objects.get(year=2023)).colonia
    first, _ = application_register(
        program_year=ProgramYear.objects.get(year=2023),
        applicant=applicant_data(),
        dwelling=dwelling_data(colonia),
        channel="portal",
        privacy_consent_at=CONSENT_AT,
    )
    application_transition(application=first, to=Status.WITHDRAWN, by=None)
    # when a stranger who knows the CURP registers with another name and phone
    application_register(
        program_year=ProgramYear.objects.get(year=2023),
        applicant=applicant_data(first_name="Impostor", phone="5500000000"),
        dwelling=dwelling_data(colonia),
        channel="portal",
        privacy_consent_at=CONSENT_AT,
    )
    # then the stored person keeps her own data
    person = Applicant.objects.get(curp=CURP)
    assert (person.first_name, person.phone) == ("Guadalupe", "5587654321")


def test_staff_registering_in_the_field_may_correct_a_known_persons_phone(db):
    colonia = EligibleColoniaFactory(program_year=ProgramYear.objects.get(year=2023)).colonia
    year = ProgramYear.objects.get(year=2023)
    first, _ = application_register(
        program_year=year,
        applicant=applicant_data(),
        dwelling=dwelling_data(colonia),
        channel="portal",
        privacy_consent_at=CONSENT_AT,
    )
    application_transition(application=first, to=Status.WITHDRAWN, by=None)
    application_register(
        program_year=year,
        applicant=applicant_data(phone="5511112222"),
        dwelling=dwelling_data(colonia),
        channel="brigada",
        privacy_consent_at=CONSENT_AT,
        by=UserFactory(role="technician"),
    )
    assert Applicant.objects.get(curp=CURP).phone == "5511112222"


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite serialises writers; PostgreSQL shows the race")
@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_for_one_new_curp_give_one_request_and_clear_refusals():
    from django.conf import settings
    from django.core.management import call_command

    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)
    year = ProgramYear.objects.get(year=2023)
    colonia = EligibleColoniaFactory(program_year=year).colonia
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def register() -> None:
        barrier.wait()
        try:
            application_register(
                program_year=year,
                applicant=applicant_data(),
                dwelling=dwelling_data(colonia),
                channel="portal",
                privacy_consent_at=CONSENT_AT,
            )
            outcomes.append("created")
        except EligibilityError as error:
            outcomes.append(error.field)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 1
    assert sorted(set(outcomes) - {"created"}) == ["curp"]
    assert Application.objects.filter(applicant__curp=CURP).count() == 1


def test_a_maintenance_visit_made_before_the_flag_is_kept_and_leaves_the_flag(db):
    from datetime import timedelta

    from django.utils import timezone

    from installations.models import MaintenanceVisit
    from installations.services import maintenance_visit_record
    from tests.factories import ApplicationFactory, InstallationFactory

    application = ApplicationFactory(status=Status.ACTIVE)
    installation = InstallationFactory(application=application, installed_on=timezone.localdate() - timedelta(days=400))
    application_transition(application=application, to=Status.NEEDS_MAINTENANCE, by=None)
    # when: a phone syncs a visit it made last month, before the flag
    visited_on = timezone.localdate() - timedelta(days=30)
    maintenance_visit_record(
        installation=installation, kind="pre_season", visited_on=visited_on, next_due_on=visited_on + timedelta(days=180), by=None
    )
    # then: the visit is stored and the system still needs maintenance
    assert MaintenanceVisit.objects.filter(installation=installation).count() == 1
    application.refresh_from_db()
    assert application.status == Status.NEEDS_MAINTENANCE
