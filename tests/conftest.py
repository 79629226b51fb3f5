"""Shared fixtures: reference data from fixtures/, users per role."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from installations.models import User
from tests.factories import UserFactory


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the reference fixtures once into the test database."""
    with django_db_blocker.unblock():
        call_command("loaddata", *settings.REFERENCE_FIXTURES, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def task_arguments_are_ids():
    """Every task this test process publishes carries ids only, never personal data (reliability.md F2)."""
    from celery import Celery
    from celery.app.task import Task

    from worker.outbox import is_id

    def check(values) -> None:
        for value in values or ():
            assert is_id(value), f"task argument {value!r} is not an id (reliability.md F2)"

    apply_async, send_task = Task.apply_async, Celery.send_task

    def checked_apply_async(self, args=None, kwargs=None, *rest, **options):
        check(args)
        check((kwargs or {}).values())
        return apply_async(self, args, kwargs, *rest, **options)

    def checked_send_task(self, name, args=None, kwargs=None, *rest, **options):
        check(args)
        check((kwargs or {}).values())
        return send_task(self, name, args, kwargs, *rest, **options)

    Task.apply_async, Celery.send_task = checked_apply_async, checked_send_task
    yield
    Task.apply_async, Celery.send_task = apply_async, send_task


@pytest.fixture(autouse=True)
def default_language():
    """A test that asks for English must not leave it switched on for the next one."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def technician(db) -> User:
    return UserFactory(username="tecnica", role=User.Role.TECHNICIAN)


@pytest.fixture
def coordinator(db) -> User:
    user = UserFactory(username="coordinadora", role=User.Role.COORDINATOR, is_staff=True)
    user.alcaldias.set(["09009", "09007"])
    return user


@pytest.fixture
def administrator(db) -> User:
    return UserFactory(username="administracion", role=User.Role.ADMINISTRATOR, is_staff=True, is_superuser=True)
