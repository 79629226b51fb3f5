"""Races through the API on PostgreSQL: two phones, or two people, acting on one record at the same moment.

Each request runs in its own thread with its own connection and client, released together by a
barrier, against committed data (transactional tests). SQLite serialises writers on one file lock,
so the races only show on PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.response import Response
from rest_framework.test import APIClient

from installations.lifecycle import Status
from installations.models import Application, MaintenanceVisit, Modality, StatusChange, User
from tests.factories import ApplicationFactory, InstallationFactory, PaymentFactory, UserFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite serialises writers; PostgreSQL shows the race"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def reference_data() -> None:
    # Transactional tests start from an emptied database: load what the factories read.
    call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)


@pytest.fixture
def staff() -> dict[str, User]:
    coordinator = UserFactory(username="coordinadora", role=User.Role.COORDINATOR)
    coordinator.alcaldias.set(["09009"])
    return {"technician": UserFactory(username="tecnica", role=User.Role.TECHNICIAN), "coordinator": coordinator}


def in_parallel(user: User, *requests: Callable[[APIClient], Response]) -> list[Response]:
    """Run each request in its own thread and connection, all released at once; their answers in order."""
    barrier = threading.Barrier(len(requests))
    answers: list[Response | None] = [None] * len(requests)
    errors: list[BaseException] = []

    def run(index: int, send: Callable[[APIClient], Response]) -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            barrier.wait(timeout=10)
            answers[index] = send(client)
        except BaseException as error:  # surfaced in the test's own thread below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, send)) for i, send in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def test_two_edits_from_the_same_version_one_wins_one_is_stale(staff):
    # given: a system both phones loaded at version 1
    installation = InstallationFactory(
        application__dwelling__colonia__alcaldia_id="09009", technician=staff["technician"], application__status=Status.ACTIVE
    )
    path = f"/api/v1/installations/{installation.pk}/"

    def edit(litres: int) -> Callable[[APIClient], Response]:
        return lambda client: client.patch(path, {"tank_capacity_litres": litres}, format="json", headers={"If-Match": '"1"'})

    # when
    answers = in_parallel(staff["technician"], edit(5000), edit(1100))
    # then: exactly one edit is applied, and the stored value is the winner's
    assert sorted(answer.status_code for answer in answers) == [200, 412]
    winner = next(answer for answer in answers if answer.status_code == 200)
    installation.refresh_from_db()
    assert installation.version == 2
    assert installation.tank_capacity_litres == winner.json()["tank_capacity_litres"]


def test_two_creates_with_one_idempotency_key_write_one_row(staff):
    # given: one capture sent twice by a phone that retried before the first answer came back
    installation = InstallationFactory(
        application__dwelling__colonia__alcaldia_id="09009", technician=staff["technician"], application__status=Status.ACTIVE
    )
    body = {
        "client_uuid": str(uuid.uuid4()),
        "installation": installation.pk,
        "kind": "pre_season",
        "visited_on": "2024-04-01",
        "next_due_on": "2024-10-01",
    }

    def send(client: APIClient) -> Response:
        return client.post("/api/v1/maintenance-visits/", body, format="json", headers={"Idempotency-Key": "retry-0000-0001"})

    # when
    answers = in_parallel(staff["technician"], send, send)
    # then: one row; the other answer is the replay of the first, or "still running"
    assert MaintenanceVisit.objects.count() == 1
    codes = sorted(answer.status_code for answer in answers)
    assert codes in ([201, 201], [201, 409])
    if codes == [201, 201]:
        assert answers[0].json() == answers[1].json()


def test_paying_and_withdrawing_at_once_only_one_happens(staff):
    # given: a partial-subsidy request waiting for its payment, which has just been recorded
    application = ApplicationFactory(
        status=Status.PAYMENT_PENDING, modality=Modality.PARTIAL_SUBSIDY, dwelling__colonia__alcaldia_id="09009"
    )
    PaymentFactory(application=application)
    path = f"/api/v1/applications/{application.pk}/transition/"

    def to(status: str) -> Callable[[APIClient], Response]:
        return lambda client: client.post(path, {"to": status}, format="json")

    # when: one coordinator marks it paid while the household's withdrawal is entered
    answers = in_parallel(staff["coordinator"], to(Status.PAID), to(Status.WITHDRAWN))
    # then: exactly one wins; the loser is told the request is no longer where it was
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    winner, loser = sorted(answers, key=lambda answer: answer.status_code)
    application.refresh_from_db()
    assert application.status == winner.json()["status"]
    assert application.version == 2
    assert loser.json()["current"] == application.status
    assert StatusChange.objects.filter(application=application).count() == 1
    assert Application.objects.filter(pk=application.pk, status__in=[Status.PAID, Status.WITHDRAWN]).exists()
