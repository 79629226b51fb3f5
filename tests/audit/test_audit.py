"""The audit trail: every write to a household's records leaves a row saying who, as what, when, from where
and what changed; bulk writes too; personal identifiers never in clear; rows never change (reliability.md G8)."""

from __future__ import annotations

import ast
import json
import re
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.authentication import device_token_issue
from api.models import RateCounter
from audit.context import audit_context
from audit.models import AuditEntry, AuditTrailError
from audit.receivers import AUDITED_MODELS
from installations.lifecycle import Status
from installations.models import Applicant, Application, Component, ProgramYear, User
from installations.services import application_register, application_transition, installation_record, technical_visit_schedule
from tests.factories import (
    ApplicantFactory,
    ApplicationFactory,
    ComponentFactory,
    DwellingFactory,
    EligibleColoniaFactory,
    InstallationFactory,
    InstallerFactory,
    TechnicalVisitFactory,
    make_curp,
)

FIELD_CURP = make_curp(7001)
PORTAL_CURP = make_curp(7002)
FIELD_PHONE = "5511112222"
PORTAL_PHONE = "5587654321"
CORRECTED_PHONE = "5599990000"
# A CURP anywhere in a text (the model's pattern is anchored to a whole value).
CURP_IN_TEXT = re.compile(r"[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{2}[B-DF-HJ-NP-TV-Z]{3}[0-9A-Z]\d")


@pytest.fixture(autouse=True)
def fresh_counters(db, settings):
    """The registration throttle counts per address; counters may live in Redis, which no rollback undoes."""
    settings.HARVEST_NUM_PROXIES = 0
    cache.clear()
    RateCounter.objects.all().delete()
    yield
    cache.clear()


@pytest.fixture
def colonia(db):
    """A colonia of Milpa Alta (09009), eligible in 2023 and in the year open to the portal."""
    eligible = EligibleColoniaFactory(colonia__alcaldia_id="09009")
    EligibleColoniaFactory(colonia=eligible.colonia, program_year=ProgramYear.objects.order_by("-year").first())
    return eligible.colonia


def field_registration(colonia) -> dict[str, object]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "program_year": 2023,
        "privacy_consent_at": "2023-02-01T10:00:00-06:00",
        "applicant": {
            "first_name": "Ana",
            "first_surname": "Gómez",
            "curp": FIELD_CURP,
            "sex": "M",
            "birth_date": "1980-01-01",
            "phone": FIELD_PHONE,
            "email": "ana@example.mx",
        },
        "dwelling": {
            "colonia": colonia.pk,
            "street_address": "Calle Tláloc 12",
            "occupants": 3,
            "water_supply": "pipas",
            "roof_material": "concreto",
            "roof_area_m2": "40.00",
        },
    }


def portal_registration(colonia) -> dict[str, object]:
    return {
        "privacy_consent": True,
        "first_name": "Guadalupe",
        "first_surname": "Gómez",
        "curp": PORTAL_CURP,
        "sex": "M",
        "birth_date": "1985-01-01",
        "phone": PORTAL_PHONE,
        "colonia": colonia.pk,
        "street_address": "Av. Nuevo León 12",
        "occupants": 5,
        "water_supply": "pipas",
        "roof_material": "concreto",
        "roof_area_m2": "40.00",
    }


def signed_in(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def entries(**filters: object) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def trail_as_text() -> str:
    return json.dumps(list(AuditEntry.objects.values()), cls=DjangoJSONEncoder, ensure_ascii=False)


# --- Who, as what, when, from where ------------------------------------------------------------------------
def test_a_registration_from_a_phone_records_the_technician_the_request_id_the_address_and_the_device(technician, colonia):
    # given a technician's phone signed in with a device token
    token, raw = device_token_issue(user=technician, device_name="Teléfono de brigada")
    # when it registers a household
    response = APIClient().post(
        "/api/v1/applications/",
        field_registration(colonia),
        format="json",
        headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": f"k-{uuid.uuid4()}", "X-Request-ID": "brigada-0001"},
        REMOTE_ADDR="198.51.100.23",
    )
    # then the answer echoes the request id, and each new record has a create row saying who did it
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "brigada-0001"
    rows = entries(request_id="brigada-0001")
    assert {(row.model_label, row.action) for row in rows} == {
        ("installations.applicant", "create"),
        ("installations.dwelling", "create"),
        ("installations.application", "create"),
    }
    for row in rows:
        assert (row.actor, row.actor_role, row.client_ip, row.device_token_id) == (
            technician,
            "technician",
            "198.51.100.23",
            token.pk,
        )
    application = next(row for row in rows if row.model_label == "installations.application")
    assert application.object_id == str(response.json()["id"])
    assert application.changes["status"] == {"old": None, "new": "registered"}
    assert application.changes["verification_code_hash"] == {"redacted": True}


def test_a_session_write_has_no_device(coordinator, colonia):
    response = signed_in(coordinator).post(
        "/api/v1/applications/", field_registration(colonia), format="json", headers={"Idempotency-Key": "k-session-0001"}
    )
    assert response.status_code == 201
    row = entries(model_label="installations.application").pop()
    assert (row.actor, row.actor_role, row.device_token_id) == (coordinator, "coordinator", None)


def test_a_household_registering_on_the_portal_is_recorded_as_anonymous_with_its_address(colonia):
    response = APIClient().post(
        "/api/v1/public/applications/", portal_registration(colonia), format="json", REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 201
    rows = entries(request_id=response.headers["X-Request-ID"])
    assert len(rows) == 3
    assert {(row.actor, row.actor_role, row.client_ip, row.device_token_id) for row in rows} == {
        (None, "anonymous", "203.0.113.9", None)
    }


@pytest.mark.parametrize("supplied", ["", "has spaces", "<script>", "x" * 65, "ñandú-1"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(technician, supplied):
    response = signed_in(technician).get("/api/v1/me/worklist/", headers={"X-Request-ID": supplied} if supplied else {})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_the_status_lookup_answers_without_a_request_id_so_its_failures_look_alike(db):
    response = APIClient().post("/api/v1/public/status/", {"folio": "x", "code": "1"}, format="json")
    assert "X-Request-ID" not in response.headers


def test_a_command_or_task_writes_as_the_system_with_its_own_request_id(colonia):
    # when a write happens outside any request
    with audit_context(request_id="task-42"):
        application, _code = application_register(
            program_year=ProgramYear.objects.get(year=2023),
            applicant={
                "first_name": "Rosa",
                "first_surname": "Nava",
                "curp": make_curp(7003),
                "sex": "M",
                "birth_date": date(1970, 1, 1),
            },
            dwelling={"colonia": colonia, "street_address": "Calle 5", "occupants": 2, "water_supply": "pipas"}
            | {"roof_material": "concreto", "roof_area_m2": Decimal("30.00")},
            channel=Application.Channel.ALCALDIA,
            privacy_consent_at=timezone.now(),
        )
    # then
    row = entries(model_label="installations.application", object_id=str(application.pk)).pop()
    assert (row.actor, row.actor_role, row.request_id, row.client_ip, row.device_token_id) == (
        None,
        "system",
        "task-42",
        None,
        None,
    )


def test_entries_are_in_utc(technician):
    InstallationFactory(technician=technician)
    for row in AuditEntry.objects.all():
        assert row.occurred_at.utcoffset() == timedelta(0)
        assert abs(timezone.now() - row.occurred_at) < timedelta(minutes=1)


# --- What changed ------------------------------------------------------------------------------------------
def test_a_patch_writes_one_update_row_with_exactly_the_changed_fields(technician):
    # given
    installation = InstallationFactory(technician=technician, application__assigned_technician=technician)
    before = AuditEntry.objects.count()
    # when a PATCH changes the tank and sends the funding source unchanged
    response = signed_in(technician).patch(
        f"/api/v1/installations/{installation.pk}/",
        {"tank_capacity_litres": 5000, "funding_source": installation.funding_source},
        format="json",
        headers={"If-Match": '"1"', "X-Request-ID": "patch-0001"},
    )
    # then
    assert response.status_code == 200
    assert AuditEntry.objects.count() == before + 1
    (row,) = entries(request_id="patch-0001")
    assert (row.model_label, row.object_id, row.action, row.actor) == (
        "installations.installation",
        str(installation.pk),
        "update",
        technician,
    )
    assert row.changes == {"tank_capacity_litres": {"old": 2500, "new": 5000}, "version": {"old": 1, "new": 2}}


def test_a_transition_writes_an_update_row_for_the_status(coordinator, colonia):
    application = ApplicationFactory(dwelling__colonia=colonia)
    response = signed_in(coordinator).post(
        f"/api/v1/applications/{application.pk}/transition/",
        {"to": "documents_pending", "note": "Falta el predial"},
        format="json",
        headers={"X-Request-ID": "transition-0001"},
    )
    assert response.status_code == 200
    (row,) = entries(request_id="transition-0001")
    assert (row.model_label, row.object_id, row.action, row.actor, row.actor_role) == (
        "installations.application",
        str(application.pk),
        "update",
        coordinator,
        "coordinator",
    )
    assert set(row.changes) == {"status", "status_changed_at", "version"}
    assert row.changes["status"] == {"old": "registered", "new": "documents_pending"}


def test_assigning_the_technician_with_a_queryset_update_is_audited(coordinator, technician):
    # given
    application = ApplicationFactory(status=Status.DOCUMENTS_COMPLETE)
    # when the service schedules the visit (it assigns the technician with QuerySet.update)
    with audit_context(request_id="schedule-1"):
        technical_visit_schedule(application=application, technician=technician, scheduled_on=date(2023, 3, 1), by=coordinator)
    # then
    (row,) = entries(request_id="schedule-1", action="bulk_update")
    assert (row.model_label, row.object_id) == ("installations.application", str(application.pk))
    assert row.changes == {"assigned_technician": {"old": None, "new": technician.pk}}


def test_removing_a_system_audits_the_removal_date_set_with_a_queryset_update(coordinator):
    installation = InstallationFactory()
    with audit_context(request_id="removal-1"):
        application_transition(application=installation.application, to=Status.REMOVED, by=coordinator)
    (row,) = entries(request_id="removal-1", action="bulk_update")
    assert (row.model_label, row.object_id) == ("installations.installation", str(installation.pk))
    assert row.changes == {"removed_on": {"old": None, "new": timezone.localdate().isoformat()}}


def test_components_written_in_bulk_with_their_installation_each_get_a_create_row(technician):
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED)
    TechnicalVisitFactory(application=application)
    parts = [
        {"kind": Component.Kind.ROOF_TANK, "size": Decimal(2500), "unit": Component.Unit.LITRES},
        {"kind": Component.Kind.TLALOQUE, "size": Decimal(210), "unit": Component.Unit.LITRES},
    ]
    installation = installation_record(
        application=application,
        technician=technician,
        installer=InstallerFactory(),
        installed_on=date(2023, 5, 1),
        components=parts,
        by=technician,
    )
    ids = {str(pk) for pk in installation.components.values_list("pk", flat=True)}
    rows = entries(model_label="installations.component", action="create")
    assert {row.object_id for row in rows} == ids
    assert {row.changes["kind"]["new"] for row in rows} == {"tinaco", "tlaloque"}


def test_a_delete_writes_a_row_with_the_last_values(db):
    component = ComponentFactory()
    pk = component.pk
    component.delete()
    (row,) = entries(model_label="installations.component", action="delete")
    assert row.object_id == str(pk)
    assert row.changes["kind"] == {"old": "tinaco", "new": None}


def test_the_demo_import_writes_one_bulk_row_per_model_not_one_per_record(db):
    # when the demo is seeded, then seeded again over itself
    call_command("seed_demo", installations=40, seed=3, today=date(2026, 11, 27), verbosity=0)
    call_command("seed_demo", installations=40, seed=3, today=date(2026, 11, 27), reset=True, verbosity=0)
    # then each audited model has one bulk_create row per run and one bulk_delete row for the reset
    created = entries(model_label="installations.installation", action="bulk_create")
    assert [row.row_count for row in created] == [40, 40]
    (deleted,) = entries(model_label="installations.installation", action="bulk_delete")
    assert deleted.row_count == 40
    # each run has its own request id, shared by its reset and its import
    assert created[0].request_id.startswith("seed-demo-")
    assert created[0].request_id != created[1].request_id == deleted.request_id
    assert AuditEntry.objects.filter(action__in=["create", "delete"]).count() == 0
    assert set(AuditEntry.objects.values_list("model_label", flat=True)) == {label.lower() for label in AUDITED_MODELS}
    assert (
        AuditEntry.objects.get(model_label="installations.applicant", action="bulk_delete").row_count == Applicant.objects.count()
    )


# --- Personal data -----------------------------------------------------------------------------------------
def test_curp_and_phone_values_never_reach_the_trail(technician, coordinator, colonia):
    # given records created from a phone, the portal and a factory
    client = signed_in(coordinator)
    created = client.post(
        "/api/v1/applications/", field_registration(colonia), format="json", headers={"Idempotency-Key": "k-pii-0001"}
    )
    assert created.status_code == 201
    assert APIClient().post("/api/v1/public/applications/", portal_registration(colonia), format="json").status_code == 201
    person = ApplicantFactory()
    # when staff correct a phone, and a person is deleted
    applicant = Applicant.objects.get(curp=FIELD_CURP)
    applicant.phone = CORRECTED_PHONE
    applicant.save()
    curps = [FIELD_CURP, PORTAL_CURP, person.curp]
    phones = [FIELD_PHONE, PORTAL_PHONE, CORRECTED_PHONE, person.phone]
    person.delete()
    # then the rows say these fields changed, never to what
    text = trail_as_text()
    assert CURP_IN_TEXT.search(text) is None
    for value in curps + phones:
        assert value not in text
    update = entries(model_label="installations.applicant", action="update").pop()
    assert update.changes == {"phone": {"redacted": True}}
    deletion = entries(model_label="installations.applicant", action="delete").pop()
    assert deletion.changes["curp"] == deletion.changes["phone"] == {"redacted": True}


# --- Append-only -------------------------------------------------------------------------------------------
def test_audit_rows_cannot_be_changed_or_deleted_through_the_orm(db):
    DwellingFactory()
    row = AuditEntry.objects.get()
    row.note = "retocado"
    with pytest.raises(AuditTrailError):
        row.save()
    with pytest.raises(AuditTrailError):
        row.delete()
    with pytest.raises(AuditTrailError):
        AuditEntry.objects.filter(pk=row.pk).update(note="retocado")
    with pytest.raises(AuditTrailError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditTrailError):
        AuditEntry._base_manager.all().delete()
    with pytest.raises(AuditTrailError):
        AuditEntry.objects.bulk_update([row], ["note"])
    assert AuditEntry.objects.get().note == ""


def test_the_admin_shows_the_trail_to_administrators_only_and_never_edits_it(client, administrator, coordinator):
    # given
    DwellingFactory()
    row = AuditEntry.objects.get()
    changelist = reverse("admin:audit_auditentry_changelist")
    change = reverse("admin:audit_auditentry_change", args=[row.pk])
    # then an administrator reads it and cannot change, add or delete
    client.force_login(administrator)
    assert client.get(changelist).status_code == 200
    filtered = client.get(changelist, {"model_label": "installations.dwelling", "actor_role": "system", "action": "create"})
    assert list(filtered.context["cl"].result_list) == [row]
    assert client.get(change).status_code == 200
    assert client.post(change, {"note": "retocado"}).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditentry_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get().note == ""
    # and a coordinator does not see it
    client.force_login(coordinator)
    assert client.get(changelist).status_code == 403


def test_an_admin_edit_is_audited_with_the_administrator(client, administrator):
    dwelling = DwellingFactory(occupants=4)
    client.force_login(administrator)
    page = reverse("admin:installations_dwelling_change", args=[dwelling.pk])
    form = client.get(page).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    response = client.post(page, data | {"occupants": 6}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302
    row = entries(model_label="installations.dwelling", action="update").pop()
    assert (row.actor, row.actor_role, row.client_ip) == (administrator, "administrator", "192.0.2.10")
    assert row.changes == {"occupants": {"old": 4, "new": 6}}


# --- No write around the trail -----------------------------------------------------------------------------
BULK_METHODS = {"update", "bulk_create", "bulk_update", "_raw_delete"}


def _bulk_calls_on_audited_models(source: str) -> list[str]:
    """``Model.objects….update(…)`` and friends on an audited model: writes that send no signal."""
    names = {label.split(".")[1] for label in AUDITED_MODELS}
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BULK_METHODS):
            continue
        target = node.func.value
        while isinstance(target, ast.Call | ast.Attribute):
            target = target.func if isinstance(target, ast.Call) else target.value
        if isinstance(target, ast.Name) and target.id in names:
            found.append(f"{target.id}.….{node.func.attr}() at line {node.lineno}")
    return found


def test_the_guard_sees_a_bulk_update_on_an_audited_model():
    assert _bulk_calls_on_audited_models("Application.objects.filter(pk=1).update(status='x')") == [
        "Application.….update() at line 1"
    ]
    assert _bulk_calls_on_audited_models("DeviceToken.objects.filter(pk=1).update(last_used_at=None)") == []


def test_no_code_updates_or_bulk_creates_audited_models_around_the_history_helpers():
    root = Path(settings.BASE_DIR)
    offenders = {
        str(path.relative_to(root)): calls
        for package in ("installations", "api", "worker", "harvest")
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts and (calls := _bulk_calls_on_audited_models(path.read_text()))
    }
    assert offenders == {}, "use audit.services.update_with_history / bulk_create_with_history"
