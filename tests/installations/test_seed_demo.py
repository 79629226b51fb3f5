"""The demo program: deterministic, realistic, and consistent with the lifecycle's own rules."""

import hashlib
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from installations.demo import NINE_ALCALDIAS
from installations.lifecycle import SYSTEM_STATUSES, TRANSITIONS, Status
from installations.models import Applicant, Application, Installation, Modality, Payment, StatusChange, TechnicalVisit, User

TODAY = date(2026, 11, 27)


def _fingerprint() -> str:
    rows = Application.objects.order_by("folio").values_list(
        "folio", "applicant__curp", "status", "program_year_id", "dwelling__colonia__name", "modality"
    )
    changes = StatusChange.objects.order_by("application__folio", "changed_at", "to_status").values_list(
        "application__folio", "to_status", "changed_at"
    )
    return hashlib.sha256(repr((list(rows), list(changes))).encode()).hexdigest()


@pytest.fixture
def demo(db):
    call_command("seed_demo", installations=600, seed=7, today=TODAY, verbosity=0)


def test_the_same_seed_builds_the_same_program(demo):
    # given
    first = _fingerprint()
    # when
    call_command("seed_demo", installations=600, seed=7, today=TODAY, reset=True, verbosity=0)
    # then
    assert _fingerprint() == first


def test_another_seed_builds_another_program(demo):
    first = _fingerprint()
    call_command("seed_demo", installations=600, seed=8, today=TODAY, reset=True, verbosity=0)
    assert _fingerprint() != first


def test_the_demo_has_requests_in_every_state_and_the_asked_number_of_systems(demo):
    statuses = set(Application.objects.values_list("status", flat=True))
    assert statuses == set(Status.values)
    assert Installation.objects.count() == 600
    assert Application.objects.filter(status__in=SYSTEM_STATUSES).count() == 600


def test_the_systems_are_spread_over_the_nine_alcaldias_with_milpa_alta_and_iztapalapa_largest(demo):
    counts = dict(
        Installation.objects.values_list("dwelling__colonia__alcaldia")
        .annotate(n=Count("pk"))
        .values_list("dwelling__colonia__alcaldia", "n")
    )
    assert set(counts) == set(NINE_ALCALDIAS)
    largest_two = sorted(counts, key=counts.get, reverse=True)[:2]
    assert set(largest_two) == {"09009", "09007"}


def test_about_two_thirds_of_homes_are_woman_headed_kept_apart_from_the_applicants_sex(demo):
    total = Applicant.objects.count()
    woman_headed = Applicant.objects.filter(woman_headed_household=True).count() / total
    women = Applicant.objects.filter(sex=Applicant.Sex.WOMAN).count() / total
    assert 0.58 < woman_headed < 0.74
    assert 0.62 < women < 0.78
    # separate facts: some men head woman-headed homes' requests and some women apply for homes they don't head
    assert Applicant.objects.filter(sex=Applicant.Sex.MAN, woman_headed_household=True).exists()
    assert Applicant.objects.filter(sex=Applicant.Sex.WOMAN, woman_headed_household=False).exists()


def test_every_recorded_history_follows_the_transition_table(demo):
    previous: dict[int, str] = {}
    for application_id, from_status, to_status in StatusChange.objects.order_by("application_id", "changed_at", "pk").values_list(
        "application_id", "from_status", "to_status"
    ):
        expected_from = previous.get(application_id, "")
        assert from_status == expected_from
        if from_status:
            assert to_status in TRANSITIONS[from_status], (from_status, to_status)
        else:
            assert to_status == Status.REGISTERED
        previous[application_id] = to_status
    assert previous == dict(Application.objects.values_list("pk", "status"))


def test_every_request_carries_the_evidence_its_state_needs(demo):
    installed = Application.objects.filter(status__in=SYSTEM_STATUSES)
    assert not installed.filter(installation=None).exists()
    assert not installed.exclude(technical_visits__outcome__in=["viable", "viable_with_adjustments"]).exists()
    assert not installed.filter(modality=Modality.PARTIAL_SUBSIDY, payment=None).exists()
    assert not Application.objects.filter(status=Status.PAID, payment=None).exists()
    assert Payment.objects.exclude(application__modality=Modality.PARTIAL_SUBSIDY).count() == 0
    assert not TechnicalVisit.objects.filter(application__status=Status.NOT_VIABLE).exclude(outcome="not_viable").exists()
    removed = Installation.objects.filter(application__status=Status.REMOVED)
    assert removed.exists() and not removed.filter(removed_on=None).exists()


def test_the_demo_users_can_log_in_with_the_demo_password(demo, client, settings):
    assert {u.username: u.role for u in User.objects.all()}.items() >= {
        "tecnico": User.Role.TECHNICIAN,
        "coordinadora": User.Role.COORDINATOR,
        "admin": User.Role.ADMINISTRATOR,
    }.items()
    assert set(User.objects.get(username="coordinadora").alcaldias.values_list("pk", flat=True)) == set(NINE_ALCALDIAS)
    assert client.login(username="coordinadora", password=settings.DEMO_PASSWORD)


def test_seeding_over_existing_data_is_refused_without_reset(demo):
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", installations=10, seed=7, today=TODAY, verbosity=0)
    call_command("seed_demo", installations=10, seed=7, today=TODAY, if_empty=True, verbosity=0)
    assert Installation.objects.count() == 600


def test_a_negative_size_is_refused_with_the_option_named(db):
    with pytest.raises(CommandError, match="--installations"):
        call_command("seed_demo", installations=-1, verbosity=0)


def test_the_new_rows_accept_further_inserts_after_explicit_ids(demo):
    # the seeder gives ids itself; PostgreSQL's sequences must have moved past them
    from tests.factories import ApplicationFactory

    assert ApplicationFactory().pk > Application.objects.exclude(status=Status.REGISTERED).order_by("-pk").first().pk - 10**6
