"""The staff API's contract: shapes per role, refused mass assignment, offline-safe creates, guarded edits,
lifecycle errors, languages, query counts and the technician's worklist.

Who may see which record is in test_access_matrix.py; races on PostgreSQL in test_concurrency.py.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation
from rest_framework import serializers

from api import serializers as shapes
from api.models import IdempotencyRecord
from installations.identifiers import verification_code_matches
from installations.lifecycle import Status
from installations.models import (
    Application,
    Component,
    EligibleColonia,
    Installation,
    MaintenanceVisit,
    ProgramYear,
    StatusChange,
    TechnicalVisit,
    User,
)
from installations.selectors import worklist
from installations.services import EDITABLE_FIELDS
from tests.clients import client_for
from tests.factories import (
    ApplicationFactory,
    ColoniaFactory,
    ComponentFactory,
    EligibleColoniaFactory,
    InstallationFactory,
    InstallerFactory,
    MaintenanceVisitFactory,
    TechnicalVisitFactory,
    UserFactory,
    make_curp,
)


# --- Given: people, places and records ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def language_restored():
    """A request with Accept-Language activates that language on the thread; later tests must not inherit it."""
    with translation.override(translation.get_language()):
        yield


@pytest.fixture
def colonia(db):
    """A colonia of Milpa Alta (09009), which the coordinator covers, eligible in 2023."""
    return EligibleColoniaFactory(colonia__alcaldia_id="09009").colonia


@pytest.fixture
def other_technician(db) -> User:
    return UserFactory(username="otra-tecnica", role=User.Role.TECHNICIAN)


def assigned_application(technician: User, colonia, status: str = Status.REGISTERED, **kwargs: Any) -> Application:
    return ApplicationFactory(status=status, dwelling__colonia=colonia, assigned_technician=technician, **kwargs)


def system(technician: User, colonia, status: str = Status.ACTIVE, **kwargs: Any) -> Installation:
    application = assigned_application(technician, colonia, status)
    return InstallationFactory(application=application, technician=technician, **kwargs)


def idempotent(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or f"test-{uuid.uuid4()}"}


def maintenance_body(installation: Installation, **overrides: Any) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "installation": installation.pk,
        "kind": "pre_season",
        "visited_on": "2024-04-01",
        "next_due_on": "2024-10-01",
        "roof_cleaned": True,
        "tlaloque_purged": True,
        **overrides,
    }


def registration_body(colonia, **overrides: Any) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "program_year": 2023,
        "privacy_consent_at": "2023-02-01T10:00:00-06:00",
        "applicant": {
            "first_name": "Ana",
            "first_surname": "Gómez",
            "curp": make_curp(4242),
            "sex": "M",
            "birth_date": "1980-01-01",
            "phone": "5511112222",
        },
        "dwelling": {
            "colonia": colonia.pk,
            "street_address": "Calle Tláloc 12",
            "latitude": "19.191000",
            "longitude": "-99.023000",
            "occupants": 3,
            "water_supply": "pipas",
            "roof_material": "concreto",
            "roof_area_m2": "40.00",
        },
        **overrides,
    }


# --- Shapes: what each role reads (reliability.md B5; LGPDPPSO minimisation) ----------------------------------
RECORD_KEYS = {"client_uuid", "recorded_at", "received_at", "version", "created_at", "updated_at"}
DWELLING_KEYS = {
    "id",
    "street_address",
    "postal_code",
    "colonia",
    "colonia_name",
    "alcaldia",
    "alcaldia_name",
    "latitude",
    "longitude",
    "occupants",
    "water_supply",
    "tandeo_days_per_week",
    "tenure_evidence",
    "roof_material",
    "roof_area_m2",
    "existing_storage_litres",
}
APPLICANT_FULL_KEYS = {
    "id",
    "first_name",
    "first_surname",
    "second_surname",
    "curp",
    "sex",
    "birth_date",
    "phone",
    "email",
    "is_household_head",
    "woman_headed_household",
    "single_mother",
    "older_adult",
    "disability",
    "indigenous",
}
APPLICANT_CONTACT_KEYS = {"id", "first_name", "first_surname", "second_surname", "curp", "phone"}
APPLICATION_KEYS = {
    "id",
    "folio",
    "status",
    "status_changed_at",
    "program_year",
    "modality",
    "channel",
    "privacy_consent_at",
    "commitment_letter_on",
    "assigned_technician",
    "applicant",
    "dwelling",
    *RECORD_KEYS,
}
TECHNICAL_VISIT_KEYS = {
    "id",
    "application",
    "folio",
    "application_status",
    "technician",
    "scheduled_on",
    "visited_on",
    "outcome",
    "measured_roof_area_m2",
    "measured_roof_material",
    "required_adjustments",
    "adjustments_verified_on",
    "notes",
    "dwelling",
    *RECORD_KEYS,
}
INSTALLATION_KEYS = {
    "id",
    "application",
    "folio",
    "application_status",
    "dwelling",
    "technician",
    "installer",
    "installed_on",
    "tank_capacity_litres",
    "funding_source",
    "unit_cost_mxn",
    "training_on",
    "removed_on",
    "components",
    *RECORD_KEYS,
}
COMPONENT_KEYS = {"id", "kind", "size", "unit", "replaced_on"}
MAINTENANCE_VISIT_KEYS = {
    "id",
    "installation",
    "application",
    "folio",
    "dwelling",
    "technician",
    "kind",
    "performed_by",
    "visited_on",
    "roof_cleaned",
    "leaf_filter_cleaned",
    "tlaloque_purged",
    "tank_cleaned",
    "cartridges_replaced",
    "chlorine_added",
    "findings",
    "next_due_on",
    *RECORD_KEYS,
}
# The snapshot: (resource, nested key) → keys, per role. Technicians read a contact card, not the applicant's file.
KEYS_BY_ROLE = {
    role: {
        ("applications", None): APPLICATION_KEYS,
        ("applications", "applicant"): APPLICANT_CONTACT_KEYS if role == "technician" else APPLICANT_FULL_KEYS,
        ("applications", "dwelling"): DWELLING_KEYS,
        ("technical-visits", None): TECHNICAL_VISIT_KEYS,
        ("technical-visits", "dwelling"): DWELLING_KEYS,
        ("installations", None): INSTALLATION_KEYS,
        ("installations", "dwelling"): DWELLING_KEYS,
        ("maintenance-visits", None): MAINTENANCE_VISIT_KEYS,
        ("maintenance-visits", "dwelling"): DWELLING_KEYS,
    }
    for role in ("technician", "coordinator", "administrator")
}


INSTALLATION_LIST_KEYS = {
    "id", "application", "folio", "application_status", "alcaldia", "colonia", "colonia_name", "technician",
    "installer", "installed_on", "tank_capacity_litres", "funding_source", "training_on", "removed_on", "version",
}  # fmt: skip


@pytest.mark.parametrize("role", ["technician", "coordinator", "administrator"])
def test_response_keys_per_role_match_the_snapshot(request, technician, colonia, role):
    # given: one record of each kind, assigned to the technician in the coordinator's alcaldía
    installation = system(technician, colonia)
    ComponentFactory(installation=installation)
    visit = TechnicalVisitFactory(application=installation.application, technician=technician)
    maintenance = MaintenanceVisitFactory(installation=installation, technician=technician)
    ids = {
        "applications": installation.application_id,
        "technical-visits": visit.pk,
        "installations": installation.pk,
        "maintenance-visits": maintenance.pk,
    }
    client = client_for(request.getfixturevalue(role))
    # when
    bodies = {prefix: client.get(f"/api/v1/{prefix}/{pk}/").json() for prefix, pk in ids.items()}
    listed = {prefix: client.get(f"/api/v1/{prefix}/").json()["results"][0] for prefix in ids}
    # then: detail and list rows have exactly the snapshot's keys (installations list a summary)
    for (prefix, nested), keys in KEYS_BY_ROLE[role].items():
        for body in (bodies[prefix], listed[prefix]):
            if body is listed["installations"]:
                continue
            assert set(body[nested] if nested else body) == keys, (prefix, nested)
    assert set(listed["installations"]) == INSTALLATION_LIST_KEYS
    assert set(bodies["installations"]["components"][0]) == COMPONENT_KEYS


def test_technicians_read_a_masked_curp_and_managers_the_full_one(technician, coordinator, administrator, colonia):
    application = assigned_application(technician, colonia, applicant__curp="GOMA850101HDFRRN00")
    path = f"/api/v1/applications/{application.pk}/"
    assert client_for(technician).get(path).json()["applicant"]["curp"] == "GOMA************00"
    assert client_for(coordinator).get(path).json()["applicant"]["curp"] == "GOMA850101HDFRRN00"
    assert client_for(administrator).get(path).json()["applicant"]["curp"] == "GOMA850101HDFRRN00"


def test_technicians_get_the_address_coordinates_and_phone_of_their_cases(technician, colonia):
    application = assigned_application(technician, colonia, applicant__phone="5598765432")
    body = client_for(technician).get(f"/api/v1/applications/{application.pk}/").json()
    assert body["applicant"]["phone"] == "5598765432"
    assert body["dwelling"]["street_address"] == application.dwelling.street_address
    assert (body["dwelling"]["latitude"], body["dwelling"]["longitude"]) == ("19.191000", "-99.023000")


def test_every_serializer_names_its_fields():
    model_serializers = [
        cls
        for _, cls in inspect.getmembers(shapes, inspect.isclass)
        if issubclass(cls, serializers.ModelSerializer) and cls.__module__ == shapes.__name__
    ]
    assert len(model_serializers) > 15
    for cls in model_serializers:
        assert isinstance(cls.Meta.fields, tuple | list), cls.__name__
        assert not hasattr(cls.Meta, "exclude"), cls.__name__


def test_edit_serializers_stay_within_what_the_services_let_change():
    pairs = [
        (shapes.ApplicationUpdateSerializer, Application),
        (shapes.TechnicalVisitUpdateSerializer, TechnicalVisit),
        (shapes.InstallationUpdateSerializer, Installation),
        (shapes.MaintenanceVisitUpdateSerializer, MaintenanceVisit),
    ]
    for serializer, model in pairs:
        assert set(serializer.Meta.fields) <= EDITABLE_FIELDS[model], serializer.__name__


# --- Mass assignment (reliability.md B6) ---------------------------------------------------------------------
def _protected_columns(record: Any) -> dict[str, Any]:
    names = ["version", "created_at", "updated_at", "client_uuid", "received_at"]
    names += [n for n in ("status", "folio", "assigned_technician_id", "technician_id", "application_id") if hasattr(record, n)]
    names += [n for n in ("visited_on", "outcome", "installation_id", "removed_on") if hasattr(record, n)]
    return {name: getattr(record, name) for name in names}


@pytest.mark.parametrize(
    ("prefix", "allowed_change"),
    [
        ("applications", {"commitment_letter_on": "2023-03-01"}),
        ("technical-visits", {"notes": "Perro bravo"}),
        ("installations", {"tank_capacity_litres": 5000}),
        ("maintenance-visits", {"findings": "Filtro tapado"}),
    ],
)
def test_a_technician_patch_carrying_protected_fields_is_refused_whole(
    technician, other_technician, colonia, prefix, allowed_change
):
    # given: each kind of record assigned to the technician
    installation = system(technician, colonia)
    records = {
        "applications": installation.application,
        "technical-visits": TechnicalVisitFactory(application=installation.application, technician=technician),
        "installations": installation,
        "maintenance-visits": MaintenanceVisitFactory(installation=installation, technician=technician),
    }
    record = records[prefix]
    before = _protected_columns(record)
    smuggled = {
        "id": 999,
        "status": Status.INSTALLED,
        "folio": "AAAAAAAAAAAA",
        "version": 42,
        "created_at": "2020-01-01T00:00:00Z",
        "assigned_technician": other_technician.pk,
        "technician": other_technician.pk,
        "application": 1,
        "received_at": "2020-01-01T00:00:00Z",
    }
    # when
    response = client_for(technician).patch(
        f"/api/v1/{prefix}/{record.pk}/", {**allowed_change, **smuggled}, format="json", headers={"If-Match": '"1"'}
    )
    # then: each smuggled key is named, and nothing was written, not even the allowed change
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(smuggled)
    assert set(response.json()["fields"]["status"]) == {"Este campo no se puede modificar."}
    record.refresh_from_db()
    assert _protected_columns(record) == before
    assert all(str(getattr(record, name)) != str(value) for name, value in allowed_change.items())


def test_coordinators_may_reassign_a_request_and_technicians_may_not(technician, other_technician, coordinator, colonia):
    application = assigned_application(technician, colonia)
    path = f"/api/v1/applications/{application.pk}/"
    refused = client_for(technician).patch(
        path, {"assigned_technician": other_technician.pk}, format="json", headers={"If-Match": '"1"'}
    )
    assert refused.status_code == 400
    assert list(refused.json()["fields"]) == ["assigned_technician"]

    accepted = client_for(coordinator).patch(
        path, {"assigned_technician": other_technician.pk}, format="json", headers={"If-Match": '"1"'}
    )
    assert accepted.status_code == 200
    assert accepted.json()["assigned_technician"] == other_technician.pk


def test_only_technicians_can_be_assigned(technician, coordinator, colonia):
    application = assigned_application(technician, colonia)
    response = client_for(coordinator).patch(
        f"/api/v1/applications/{application.pk}/",
        {"assigned_technician": coordinator.pk},
        format="json",
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["assigned_technician"]


def test_a_technician_cannot_record_work_in_another_technicians_name(technician, other_technician, colonia):
    installation = system(technician, colonia)
    body = maintenance_body(installation, technician=other_technician.pk)
    response = client_for(technician).post("/api/v1/maintenance-visits/", body, format="json", headers=idempotent())
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["technician"]
    assert not MaintenanceVisit.objects.exists()


def test_a_technicians_own_record_is_in_their_name(technician, colonia):
    installation = system(technician, colonia)
    response = client_for(technician).post(
        "/api/v1/maintenance-visits/", maintenance_body(installation), format="json", headers=idempotent()
    )
    assert response.status_code == 201
    visit = MaintenanceVisit.objects.get()
    assert (visit.technician, visit.roof_cleaned, visit.tank_cleaned) == (technician, True, False)


# --- Offline-safe creates (reliability.md G5, G7) ------------------------------------------------------------
def test_the_same_key_and_body_get_the_same_answer_and_one_row(technician, colonia):
    # given
    installation = system(technician, colonia)
    client, body, headers = client_for(technician), maintenance_body(installation), idempotent("phone-7-visit-0001")
    # when
    first = client.post("/api/v1/maintenance-visits/", body, format="json", headers=headers)
    again = client.post("/api/v1/maintenance-visits/", body, format="json", headers=headers)
    # then
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert MaintenanceVisit.objects.count() == 1


def test_the_same_key_with_another_body_is_refused(technician, colonia):
    installation = system(technician, colonia)
    client, headers = client_for(technician), idempotent("phone-7-visit-0002")
    assert (
        client.post("/api/v1/maintenance-visits/", maintenance_body(installation), format="json", headers=headers).status_code
        == 201
    )
    response = client.post(
        "/api/v1/maintenance-visits/", maintenance_body(installation, findings="otra"), format="json", headers=headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unprocessable"
    assert MaintenanceVisit.objects.count() == 1


def test_a_create_without_a_key_is_refused(technician, colonia):
    installation = system(technician, colonia)
    response = client_for(technician).post("/api/v1/maintenance-visits/", maintenance_body(installation), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert not MaintenanceVisit.objects.exists()


def test_keys_are_per_user(technician, coordinator, colonia):
    installation = system(technician, colonia)
    headers = idempotent("shared-key-0001")
    assert (
        client_for(technician)
        .post("/api/v1/maintenance-visits/", maintenance_body(installation), format="json", headers=headers)
        .status_code
        == 201
    )
    other = client_for(coordinator).post(
        "/api/v1/maintenance-visits/", maintenance_body(installation), format="json", headers=headers
    )
    assert other.status_code == 201
    assert MaintenanceVisit.objects.count() == 2


def test_a_client_uuid_already_stored_is_a_conflict_not_a_second_row(technician, colonia):
    installation = system(technician, colonia)
    client, body = client_for(technician), maintenance_body(installation)
    assert client.post("/api/v1/maintenance-visits/", body, format="json", headers=idempotent()).status_code == 201
    response = client.post("/api/v1/maintenance-visits/", body, format="json", headers=idempotent())
    assert response.status_code == 409
    assert MaintenanceVisit.objects.count() == 1
    assert IdempotencyRecord.objects.filter(state=IdempotencyRecord.State.IN_PROGRESS).count() == 0


def test_a_registration_sent_again_under_a_new_key_is_a_conflict_not_a_curp_error(coordinator, colonia):
    client, body = client_for(coordinator), registration_body(colonia)
    assert client.post("/api/v1/applications/", body, format="json", headers=idempotent()).status_code == 201
    response = client.post("/api/v1/applications/", body, format="json", headers=idempotent())
    assert response.status_code == 409
    assert Application.objects.filter(client_uuid=body["client_uuid"]).count() == 1


def test_a_capture_time_ten_minutes_in_the_future_is_refused(technician, colonia):
    installation = system(technician, colonia)
    future = (timezone.now() + timedelta(minutes=10)).isoformat()
    response = client_for(technician).post(
        "/api/v1/maintenance-visits/", maintenance_body(installation, recorded_at=future), format="json", headers=idempotent()
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["recorded_at"]
    assert not MaintenanceVisit.objects.exists()


def test_the_device_clock_is_kept_apart_from_the_servers(technician, colonia):
    installation = system(technician, colonia)
    recorded_at = timezone.now() - timedelta(days=3)
    body = (
        client_for(technician)
        .post(
            "/api/v1/maintenance-visits/",
            maintenance_body(installation, recorded_at=recorded_at.isoformat()),
            format="json",
            headers=idempotent(),
        )
        .json()
    )
    visit = MaintenanceVisit.objects.get()
    assert visit.recorded_at == recorded_at
    assert timezone.now() - visit.received_at < timedelta(minutes=1)
    assert body["client_uuid"] == str(visit.client_uuid)


def test_a_client_uuid_is_required(technician, colonia):
    installation = system(technician, colonia)
    body = maintenance_body(installation)
    del body["client_uuid"]
    response = client_for(technician).post("/api/v1/maintenance-visits/", body, format="json", headers=idempotent())
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["client_uuid"]


# --- Creates go through the services --------------------------------------------------------------------------
def test_registering_a_request_returns_its_verification_code_once(technician, colonia):
    # when: a technician registers a household in a brigade
    response = client_for(technician).post(
        "/api/v1/applications/", registration_body(colonia), format="json", headers=idempotent()
    )
    # then
    assert response.status_code == 201
    body = response.json()
    application = Application.objects.get(pk=body["id"])
    assert (application.status, application.channel, application.version) == (Status.REGISTERED, "brigada", 1)
    assert verification_code_matches(body["verification_code"], application.verification_code_hash)
    assert body["applicant"]["curp"].count("*") == 12  # a technician's answer masks the CURP


def test_the_verification_code_is_not_shown_again(coordinator, colonia):
    created = client_for(coordinator).post(
        "/api/v1/applications/", registration_body(colonia), format="json", headers=idempotent()
    )
    shown_again = client_for(coordinator).get(f"/api/v1/applications/{created.json()['id']}/").json()
    assert "verification_code" in created.json()
    assert "verification_code" not in shown_again


def test_a_coordinator_registers_only_inside_her_alcaldias(coordinator):
    outside = EligibleColoniaFactory(colonia__alcaldia_id="09005").colonia
    response = client_for(coordinator).post(
        "/api/v1/applications/", registration_body(outside), format="json", headers=idempotent()
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["dwelling"]
    assert not Application.objects.exists()


def test_a_colonia_outside_the_years_list_is_refused_with_the_field(technician):
    not_eligible = ColoniaFactory(alcaldia_id="09009")
    response = client_for(technician).post(
        "/api/v1/applications/", registration_body(not_eligible), format="json", headers=idempotent()
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["colonia"]


def test_scheduling_a_visit_assigns_the_technician(technician, coordinator, colonia):
    application = ApplicationFactory(status=Status.DOCUMENTS_COMPLETE, dwelling__colonia=colonia)
    body = {
        "client_uuid": str(uuid.uuid4()),
        "application": application.pk,
        "technician": technician.pk,
        "scheduled_on": "2023-03-01",
    }
    response = client_for(coordinator).post("/api/v1/technical-visits/", body, format="json", headers=idempotent())
    assert response.status_code == 201
    assert response.json()["application_status"] == Status.VISIT_SCHEDULED
    application.refresh_from_db()
    assert (application.status, application.assigned_technician) == (Status.VISIT_SCHEDULED, technician)


def test_recording_a_visit_moves_the_request_to_its_outcome(technician, colonia):
    application = assigned_application(technician, colonia, Status.VISIT_SCHEDULED)
    visit = TechnicalVisitFactory(application=application, technician=technician, visited_on=None, outcome=None)
    response = client_for(technician).post(
        f"/api/v1/technical-visits/{visit.pk}/record/",
        {"visited_on": "2023-03-02", "outcome": "viable_with_adjustments", "required_adjustments": "Bajante nueva"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["outcome"], response.json()["application_status"]) == (
        "viable_with_adjustments",
        "adjustments_pending",
    )

    verified = client_for(technician).post(
        f"/api/v1/technical-visits/{visit.pk}/verify-adjustments/", {"verified_on": "2023-03-20"}, format="json"
    )
    assert verified.status_code == 200
    assert verified.json()["application_status"] == Status.VIABLE


def test_a_visit_in_the_future_is_refused_naming_the_field(technician, colonia):
    application = assigned_application(technician, colonia, Status.VISIT_SCHEDULED)
    visit = TechnicalVisitFactory(application=application, technician=technician, visited_on=None, outcome=None)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = client_for(technician).post(
        f"/api/v1/technical-visits/{visit.pk}/record/", {"visited_on": tomorrow, "outcome": "viable"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["visited_on"]


def test_a_technician_records_the_installation_of_an_assigned_request(technician, colonia):
    application = assigned_application(technician, colonia, Status.INSTALLATION_SCHEDULED)
    TechnicalVisitFactory(application=application, technician=technician)
    body = {
        "client_uuid": str(uuid.uuid4()),
        "application": application.pk,
        "installer": InstallerFactory().pk,
        "installed_on": "2023-05-01",
        "components": [{"kind": "tinaco", "size": "2500", "unit": "L"}, {"kind": "tlaloque", "size": "1", "unit": "pza"}],
    }
    response = client_for(technician).post("/api/v1/installations/", body, format="json", headers=idempotent())
    assert response.status_code == 201
    assert response.json()["application_status"] == Status.INSTALLED
    installation = Installation.objects.get()
    assert installation.technician == technician
    assert sorted(Component.objects.values_list("kind", flat=True)) == ["tinaco", "tlaloque"]


def test_a_bad_component_is_named_and_nothing_is_written(technician, colonia):
    application = assigned_application(technician, colonia, Status.INSTALLATION_SCHEDULED)
    TechnicalVisitFactory(application=application, technician=technician)
    body = {
        "client_uuid": str(uuid.uuid4()),
        "application": application.pk,
        "installer": InstallerFactory().pk,
        "installed_on": "2023-05-01",
        "components": [{"kind": "tinaco", "size": "0", "unit": "L"}],
    }
    response = client_for(technician).post("/api/v1/installations/", body, format="json", headers=idempotent())
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["components"]
    assert not Installation.objects.exists()


# --- Guarded edits (reliability.md G2) ----------------------------------------------------------------------
def test_a_record_is_sent_with_its_version_as_etag(technician, colonia):
    installation = system(technician, colonia)
    response = client_for(technician).get(f"/api/v1/installations/{installation.pk}/")
    assert response.headers["ETag"] == '"1"'


def test_an_edit_without_if_match_is_refused(technician, colonia):
    installation = system(technician, colonia)
    response = client_for(technician).patch(
        f"/api/v1/installations/{installation.pk}/", {"tank_capacity_litres": 5000}, format="json"
    )
    assert response.status_code == 428
    assert response.json()["code"] == "precondition_required"
    installation.refresh_from_db()
    assert (installation.tank_capacity_litres, installation.version) == (2500, 1)


def test_a_stale_edit_is_refused_and_writes_nothing(technician, colonia):
    installation = system(technician, colonia)
    client, path = client_for(technician), f"/api/v1/installations/{installation.pk}/"
    # when: the first edit succeeds, the second one is based on the version before it
    first = client.patch(path, {"tank_capacity_litres": 5000}, format="json", headers={"If-Match": '"1"'})
    stale = client.patch(path, {"tank_capacity_litres": 1100}, format="json", headers={"If-Match": '"1"'})
    # then
    assert first.status_code == 200
    assert (first.json()["version"], first.headers["ETag"]) == (2, '"2"')
    assert stale.status_code == 412
    assert (stale.json()["code"], stale.json()["current_version"]) == ("stale_version", 2)
    installation.refresh_from_db()
    assert (installation.tank_capacity_litres, installation.version) == (5000, 2)


@pytest.mark.parametrize("step", ["record", "verify-adjustments"])
def test_recording_a_visit_raises_its_version_so_older_edits_are_stale(technician, colonia, step):
    # given: a phone that loaded the visit at version 1
    status, outcome = (
        (Status.VISIT_SCHEDULED, None) if step == "record" else (Status.ADJUSTMENTS_PENDING, "viable_with_adjustments")
    )
    visit = TechnicalVisitFactory(
        application=assigned_application(technician, colonia, status),
        technician=technician,
        visited_on=None if outcome is None else timezone.localdate() - timedelta(days=5),
        outcome=outcome,
        required_adjustments="Bajante nueva",
    )
    body = {"visited_on": timezone.localdate().isoformat(), "outcome": "viable"}
    if step == "verify-adjustments":
        body = {"verified_on": timezone.localdate().isoformat()}
    client = client_for(technician)
    assert client.post(f"/api/v1/technical-visits/{visit.pk}/{step}/", body, format="json").status_code == 200
    # when: an edit based on version 1 arrives
    stale = client.patch(f"/api/v1/technical-visits/{visit.pk}/", {"notes": "x"}, format="json", headers={"If-Match": '"1"'})
    # then
    assert stale.status_code == 412


def test_put_and_delete_are_not_offered(technician, colonia):
    installation = system(technician, colonia)
    client, path = client_for(technician), f"/api/v1/installations/{installation.pk}/"
    assert client.put(path, {"tank_capacity_litres": 5000}, format="json", headers={"If-Match": '"1"'}).status_code == 405
    assert client.delete(path).status_code == 405
    assert Installation.objects.filter(pk=installation.pk, version=1).exists()


# --- The lifecycle through the API (reliability.md G3) -----------------------------------------------------
def test_a_transition_returns_the_request_with_its_new_version(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia)
    response = client_for(coordinator).post(
        f"/api/v1/applications/{application.pk}/transition/",
        {"to": "documents_pending", "note": "Falta el predial"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"], response.headers["ETag"]) == ("documents_pending", 2, '"2"')
    change = StatusChange.objects.get(application=application)
    assert (change.changed_by, change.note) == (coordinator, "Falta el predial")


def test_an_illegal_transition_names_the_current_and_wanted_status(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia)
    response = client_for(coordinator).post(
        f"/api/v1/applications/{application.pk}/transition/", {"to": "installed"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["current"], body["wanted"], body["missing"]) == (
        "invalid_transition",
        "registered",
        "installed",
        [],
    )
    assert body["detail"] == "No se puede pasar de «Registrada» a «Instalada»: el proceso no lo permite."
    application.refresh_from_db()
    assert (application.status, application.version) == (Status.REGISTERED, 1)


def test_a_transition_without_its_evidence_names_what_is_missing(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia, status=Status.VISIT_SCHEDULED)
    response = client_for(coordinator).post(
        f"/api/v1/applications/{application.pk}/transition/", {"to": "visit_done"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["current"], body["wanted"]) == ("missing_evidence", "visit_scheduled", "visit_done")
    assert body["missing"] == ["el registro de una visita técnica realizada"]


def test_an_unknown_status_is_a_bad_request(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia)
    response = client_for(coordinator).post(
        f"/api/v1/applications/{application.pk}/transition/", {"to": "approved"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["to"]


# --- Languages: Spanish by default, English on request ------------------------------------------------------
def test_lifecycle_errors_speak_english_when_asked(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia, status=Status.VISIT_SCHEDULED)
    client = client_for(coordinator, language="en")
    path = f"/api/v1/applications/{application.pk}/transition/"

    illegal = client.post(path, {"to": "installed"}, format="json").json()
    assert illegal["detail"] == "Cannot move from «Technical visit scheduled» to «Installed»: the process does not allow it."

    missing = client.post(path, {"to": "visit_done"}, format="json").json()
    assert missing["missing"] == ["a record of a completed technical visit"]
    assert missing["detail"].startswith("Cannot move from «Technical visit scheduled» to «Technical visit done»")


def test_field_and_not_found_errors_speak_english_when_asked(coordinator, colonia):
    client = client_for(coordinator, language="en")
    assert client.get("/api/v1/applications/987654/").json()["detail"] == "Not found."
    invalid = client.post("/api/v1/technical-visits/", {"client_uuid": "no"}, format="json", headers=idempotent()).json()
    assert invalid["fields"]["client_uuid"] == ["Must be a valid UUID."]
    assert invalid["fields"]["scheduled_on"] == ["This field is required."]


def test_anonymous_callers_are_told_in_english_when_asked():
    response = client_for(None, language="en").get("/api/v1/applications/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Authentication credentials were not provided."


# --- Reference data ---------------------------------------------------------------------------------------------
def test_reference_lists(technician):
    client = client_for(technician)
    assert len(client.get("/api/v1/alcaldias/").json()) == 16
    assert client.get("/api/v1/alcaldias/09007/").json() == {"cvegeo": "09007", "name": "Iztapalapa"}
    years = client.get("/api/v1/program-years/").json()
    assert [year["year"] for year in years] == sorted((year["year"] for year in years), reverse=True)
    assert "eligible_colonias" not in years[0]


def test_colonias_filter_by_alcaldia(technician):
    milpa_alta, iztapalapa = ColoniaFactory(alcaldia_id="09009"), ColoniaFactory(alcaldia_id="09007")
    rows = client_for(technician).get("/api/v1/colonias/", {"alcaldia": "09007"}).json()["results"]
    assert iztapalapa.pk in {row["id"] for row in rows}
    assert milpa_alta.pk not in {row["id"] for row in rows}
    assert set(rows[0]) == {"id", "name", "kind", "alcaldia"}


def test_a_years_eligible_colonias(technician):
    eligible = EligibleColoniaFactory(colonia__alcaldia_id="09007", modality="partial_subsidy_50")
    EligibleColoniaFactory(colonia__alcaldia_id="09009")
    client = client_for(technician)
    rows = client.get("/api/v1/program-years/2023/eligible-colonias/", {"alcaldia": "09007"}).json()["results"]
    expected = {
        "id": eligible.colonia_id,
        "name": eligible.colonia.name,
        "alcaldia": "09007",
        "alcaldia_name": "Iztapalapa",
        "modality": "partial_subsidy_50",
    }
    assert expected in rows
    assert {row["alcaldia"] for row in rows} == {"09007"}
    assert client.get("/api/v1/program-years/1999/eligible-colonias/").status_code == 404


# --- Filters -----------------------------------------------------------------------------------------------------
def test_lists_filter_by_place_status_and_dates(coordinator):
    milpa_alta = ApplicationFactory(dwelling__colonia__alcaldia_id="09009", status=Status.REGISTERED)
    iztapalapa = ApplicationFactory(dwelling__colonia__alcaldia_id="09007", status=Status.VIABLE)
    client = client_for(coordinator)

    def ids(**params: Any) -> set[int]:
        return {row["id"] for row in client.get("/api/v1/applications/", params).json()["results"]}

    assert ids(alcaldia="09007") == {iztapalapa.pk}
    assert ids(status=["viable", "registered"]) == {milpa_alta.pk, iztapalapa.pk}
    assert ids(status="viable") == {iztapalapa.pk}
    assert ids(colonia=milpa_alta.dwelling.colonia_id) == {milpa_alta.pk}
    today = timezone.localdate()
    assert ids(created_on_after=today.isoformat()) == {milpa_alta.pk, iztapalapa.pk}
    assert ids(created_on_before=(today - timedelta(days=1)).isoformat()) == set()


def test_pending_technical_visits_filter(coordinator, technician, colonia):
    done = TechnicalVisitFactory(application__dwelling__colonia=colonia, technician=technician)
    pending = TechnicalVisitFactory(
        application__dwelling__colonia=colonia,
        application__status=Status.VISIT_SCHEDULED,
        technician=technician,
        visited_on=None,
        outcome=None,
    )
    client = client_for(coordinator)
    assert [row["id"] for row in client.get("/api/v1/technical-visits/", {"pending": "true"}).json()["results"]] == [pending.pk]
    assert [row["id"] for row in client.get("/api/v1/technical-visits/", {"pending": "false"}).json()["results"]] == [done.pk]


# --- Query counts: constant, whatever the number of rows ---------------------------------------------------
def _field_records(technician: User, colonia, count: int) -> None:
    for _ in range(count):
        installation = system(technician, colonia, status=Status.ACTIVE)
        ComponentFactory(installation=installation)
        ComponentFactory(installation=installation, kind=Component.Kind.TLALOQUE, size=Decimal("1"), unit=Component.Unit.UNITS)
        TechnicalVisitFactory(application=installation.application, technician=technician)
        MaintenanceVisitFactory(installation=installation, technician=technician)
        EligibleColoniaFactory(colonia__alcaldia_id="09009")


RECORD_LISTS = {"/api/v1/applications/", "/api/v1/technical-visits/", "/api/v1/installations/", "/api/v1/maintenance-visits/"}
# Path → queries: one SELECT for a page (scope, joins and cursor in it), plus one per prefetch.
LIST_QUERIES = {
    "/api/v1/applications/": 1,
    "/api/v1/technical-visits/": 1,
    "/api/v1/installations/": 1,  # a summary row: no components
    "/api/v1/maintenance-visits/": 1,
    "/api/v1/colonias/": 1,
    "/api/v1/alcaldias/": 1,
    "/api/v1/program-years/": 2,  # + alcaldías
    "/api/v1/program-years/2023/eligible-colonias/": 2,  # + the year
    "/api/v1/me/worklist/": 3,  # visits, maintained systems, never maintained systems
}


@pytest.mark.parametrize("role", ["technician", "coordinator"])
@pytest.mark.parametrize("path", list(LIST_QUERIES))
def test_list_query_count_does_not_grow_with_rows(request, django_assert_num_queries, technician, colonia, role, path):
    client = client_for(request.getfixturevalue(role))
    for rows in (3, 30):
        _field_records(technician, colonia, rows - (3 if rows == 30 else 0))
        with django_assert_num_queries(LIST_QUERIES[path]):
            response = client.get(path)
        assert response.status_code == 200
        if path in RECORD_LISTS:
            assert len(response.json()["results"]) == rows


# --- The technician's worklist -----------------------------------------------------------------------------------
def test_the_worklist_lists_due_work_soonest_first_with_overdue_flags(technician, other_technician, colonia):
    today = timezone.localdate()
    days = timedelta(days=1)

    def pending_visit(on, technician=technician, status=Status.VISIT_SCHEDULED):
        return TechnicalVisitFactory(
            application=assigned_application(technician, colonia, status),
            technician=technician,
            scheduled_on=on,
            visited_on=None,
            outcome=None,
        )

    def maintained(next_due_on, technician=technician, status=Status.ACTIVE):
        installation = system(technician, colonia, status=status, installed_on=today - 400 * days)
        MaintenanceVisitFactory(installation=installation, visited_on=today - 300 * days, next_due_on=today - 100 * days)
        MaintenanceVisitFactory(installation=installation, visited_on=today - 60 * days, next_due_on=next_due_on)
        return installation

    def never_maintained(installed_on, status=Status.ACTIVE):
        return system(technician, colonia, status=status, installed_on=installed_on)

    # given: work that is due …
    overdue_visit = pending_visit(today - 3 * days)
    overdue_system = never_maintained(today - 184 * days)  # due 2 days ago
    due_today = never_maintained(today - 182 * days)
    soon = maintained(today + 5 * days)  # its older visit's date (100 days ago) no longer counts
    later_visit = pending_visit(today + 10 * days)
    at_horizon = maintained(today + 30 * days, status=Status.NEEDS_MAINTENANCE)
    # … and work that is not: beyond 30 days, not in operation, recorded, withdrawn, someone else's
    maintained(today + 31 * days)
    never_maintained(today - 100 * days)
    never_maintained(today - 400 * days, status=Status.INACTIVE)
    TechnicalVisitFactory(application=assigned_application(technician, colonia, Status.VIABLE), technician=technician)
    pending_visit(today - 9 * days, status=Status.WITHDRAWN)
    pending_visit(today - 9 * days, technician=other_technician)
    maintained(today - 9 * days, technician=other_technician)

    # when
    response = client_for(technician).get("/api/v1/me/worklist/")

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["truncated"] is False
    summary = [(item["kind"], item["id"], item["due_on"], item["overdue"]) for item in body["results"]]
    assert summary == [
        ("technical_visit", overdue_visit.pk, str(today - 3 * days), True),
        ("maintenance", overdue_system.pk, str(today - 2 * days), True),
        ("maintenance", due_today.pk, str(today), False),
        ("maintenance", soon.pk, str(today + 5 * days), False),
        ("technical_visit", later_visit.pk, str(today + 10 * days), False),
        ("maintenance", at_horizon.pk, str(today + 30 * days), False),
    ]
    first = body["results"][0]
    dwelling = overdue_visit.application.dwelling
    assert first["folio"] == overdue_visit.application.folio
    assert (first["alcaldia"], first["alcaldia_name"], first["colonia"]) == ("09009", "Milpa Alta", colonia.pk)
    assert (first["street_address"], first["latitude"], first["longitude"]) == (
        dwelling.street_address,
        "19.191000",
        "-99.023000",
    )


def test_the_worklist_is_capped_and_says_so(technician, colonia):
    today = timezone.localdate()
    for offset in range(3):
        TechnicalVisitFactory(
            application=assigned_application(technician, colonia, Status.VISIT_SCHEDULED),
            technician=technician,
            scheduled_on=today + timedelta(days=offset),
            visited_on=None,
            outcome=None,
        )
    capped = worklist(user=technician, today=today, limit=2)
    assert capped.truncated is True
    assert [item.due_on for item in capped.items] == [today, today + timedelta(days=1)]
    assert worklist(user=technician, today=today, limit=3).truncated is False


def test_a_coordinators_worklist_is_her_own_not_her_alcaldias(coordinator, technician, colonia):
    TechnicalVisitFactory(
        application=assigned_application(technician, colonia, Status.VISIT_SCHEDULED),
        technician=technician,
        visited_on=None,
        outcome=None,
    )
    assert client_for(coordinator).get("/api/v1/me/worklist/").json() == {"results": [], "truncated": False}


def test_the_eligible_colonias_of_an_unknown_year_are_not_found_not_empty(technician):
    assert not ProgramYear.objects.filter(year=2099).exists()
    assert not EligibleColonia.objects.filter(program_year_id=2099).exists()
    assert client_for(technician).get("/api/v1/program-years/2099/eligible-colonias/").status_code == 404
