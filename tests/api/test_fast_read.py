"""The compiled list output (api/fast_read.py) is exactly what DRF's own field-by-field path gives."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api import fast_read
from installations.lifecycle import Status
from tests.api import test_staff_api
from tests.api.test_staff_api import client_for, system
from tests.factories import ApplicationFactory, ComponentFactory, MaintenanceVisitFactory, TechnicalVisitFactory

colonia = test_staff_api.colonia  # the same fixture

ENDPOINTS = [
    "/api/v1/applications/",
    "/api/v1/technical-visits/",
    "/api/v1/installations/",
    "/api/v1/maintenance-visits/",
    "/api/v1/colonias/",
    "/api/v1/program-years/2023/eligible-colonias/",
]


@pytest.fixture
def records(technician, colonia):
    installation = system(
        technician, colonia, unit_cost_mxn=Decimal("19400.50"), client_uuid=uuid.uuid4(), recorded_at=timezone.now()
    )
    ComponentFactory(installation=installation)
    MaintenanceVisitFactory(installation=installation, technician=technician)
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED, dwelling__colonia=colonia, assigned_technician=technician)
    TechnicalVisitFactory(
        application=application,
        technician=technician,
        scheduled_on=timezone.localdate() + timedelta(days=2),
        visited_on=None,
        outcome=None,
    )
    ApplicationFactory(dwelling__colonia=colonia, dwelling__latitude=None, dwelling__longitude=None, applicant__second_surname="")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ["technician", "coordinator", "administrator"])
def test_compiled_output_equals_drfs_own(records, request, role, endpoint, monkeypatch):
    client = client_for(request.getfixturevalue(role))
    compiled = client.get(endpoint)
    monkeypatch.setattr(fast_read, "ENABLED", False)
    reference = client.get(endpoint)
    assert compiled.status_code == reference.status_code == 200
    assert compiled.content == reference.content
    assert compiled.json()["results"] or role == "technician"


def test_installation_list_rows_read_as_values_equal_drfs_rendering_of_the_records(records, coordinator, monkeypatch):
    from api.serializers import InstallationListSerializer
    from installations.models import Installation
    from installations.selectors import installation_list_queryset

    rows = list(installation_list_queryset(user=coordinator))
    monkeypatch.setattr(fast_read, "ENABLED", False)
    records = Installation.objects.filter(pk__in=[row["pk"] for row in rows]).select_related("application", "dwelling__colonia")
    assert rows
    assert [InstallationListSerializer().to_representation(row) for row in rows] == list(
        InstallationListSerializer(records.order_by("-pk"), many=True).data
    )
