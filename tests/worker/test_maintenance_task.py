"""The maintenance sweep task: thin, safe to deliver twice, retried only for errors that heal."""

import inspect
from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from installations import maintenance
from installations.lifecycle import Status
from installations.models import Application, MaintenanceReminder, StatusChange
from tests.factories import InstallationFactory, MaintenanceVisitFactory
from worker.tasks.maintenance import maintenance_sweep_task


def an_overdue_active_system_and_a_flagged_one() -> None:
    """Overdue whatever today's date: one past its next maintenance date, one flagged by hand."""
    today = timezone.localdate()
    late = InstallationFactory(application__status=Status.ACTIVE, installed_on=today - timedelta(days=400))
    MaintenanceVisitFactory(installation=late, visited_on=today - timedelta(days=200), next_due_on=today - timedelta(days=1))
    InstallationFactory(application__status=Status.NEEDS_MAINTENANCE, installed_on=today - timedelta(days=400))


def test_the_task_run_twice_flags_and_reminds_once(db):
    # given
    an_overdue_active_system_and_a_flagged_one()
    # when: run twice, as a duplicate delivery or a rerun after a lost worker would
    first = maintenance_sweep_task.run()
    second = maintenance_sweep_task.run()
    # then
    assert first == {"flagged": 1, "reminders_created": 2, "reminders_already_present": 0}
    assert second == {"flagged": 0, "reminders_created": 0, "reminders_already_present": 2}
    assert MaintenanceReminder.objects.count() == 2
    assert set(MaintenanceReminder.objects.values_list("due_since", flat=True)) == {timezone.localdate()}
    assert StatusChange.objects.filter(to_status=Status.NEEDS_MAINTENANCE).count() == 1
    assert Application.objects.filter(status=Status.NEEDS_MAINTENANCE).count() == 2


def test_the_task_applied_through_celery_gives_the_same_single_effect(db):
    an_overdue_active_system_and_a_flagged_one()

    first = maintenance_sweep_task.apply()
    second = maintenance_sweep_task.apply()

    assert first.successful() and second.successful()
    assert first.result["reminders_created"] == 2
    assert second.result == {"flagged": 0, "reminders_created": 0, "reminders_already_present": 2}


def test_the_task_takes_no_arguments_and_sweeps_mexico_citys_today():
    assert inspect.signature(maintenance_sweep_task.run).parameters == {}
    with mock.patch.object(maintenance, "maintenance_sweep", return_value=maintenance.SweepResult()) as sweep:
        maintenance_sweep_task.run()

    sweep.assert_called_once_with(today=timezone.localdate())


def test_the_task_is_acked_late_limited_and_retried_a_bounded_number_of_times():
    task = maintenance_sweep_task
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.ignore_result is True
    assert 0 < task.soft_time_limit < task.time_limit
    visibility_timeout = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).get("visibility_timeout", 3600)
    assert task.time_limit < visibility_timeout
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.retry_backoff is True
    assert task.retry_jitter is True
    assert 0 < task.max_retries <= 5


def test_a_lost_database_connection_is_retried_then_given_up():
    with mock.patch.object(maintenance, "maintenance_sweep", side_effect=OperationalError("connection lost")) as sweep:
        result = maintenance_sweep_task.apply()

    assert result.failed()
    assert isinstance(result.result, OperationalError)
    assert sweep.call_count == 1 + maintenance_sweep_task.max_retries


def test_a_programming_error_is_not_retried():
    with mock.patch.object(maintenance, "maintenance_sweep", side_effect=ValueError("bug")) as sweep:
        result = maintenance_sweep_task.apply()

    assert result.failed()
    assert sweep.call_count == 1
