"""Who sees and does what in the staff API: role × endpoint × (own | foreign | missing) record.

"Own" is a record in the caller's scope (a technician's assignment, a coordinator's alcaldía; for an
administrator everything, so "foreign" is also theirs). Another's record and a missing one answer the
same 404, on reads, edits and actions alike; lists never show another's; a create under a parent the
caller cannot see answers 404 and writes nothing; anonymous callers get 401 everywhere (reliability.md
B1–B4). The last test walks the URLconf so that a new endpoint cannot be left open by accident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from installations.lifecycle import Status
from installations.models import Application, Colonia, Installation, MaintenanceVisit, TechnicalVisit, User
from tests.factories import (
    ApplicationFactory,
    ColoniaFactory,
    InstallationFactory,
    InstallerFactory,
    MaintenanceVisitFactory,
    TechnicalVisitFactory,
    UserFactory,
)

MISSING_PK = 987_654
ROLES = ("technician", "coordinator", "administrator", "anonymous")
OBJECTS = ("own", "foreign", "missing")


@dataclass(frozen=True)
class Side:
    """Whose records: the technician they are assigned to, in a colonia of some alcaldía."""

    technician: User
    colonia: Colonia


@pytest.fixture
def sides(technician: User) -> dict[str, Side]:
    # The coordinator fixture covers 09009 and 09007; 09005 is outside her alcaldías.
    return {
        "own": Side(technician, ColoniaFactory(alcaldia_id="09009")),
        "foreign": Side(UserFactory(username="otra-tecnica"), ColoniaFactory(alcaldia_id="09005")),
    }


def _application(side: Side, status: str, **kwargs: Any) -> Application:
    return ApplicationFactory(status=status, dwelling__colonia=side.colonia, **{"assigned_technician": side.technician, **kwargs})


def _pending_visit(side: Side) -> TechnicalVisit:
    return TechnicalVisitFactory(
        application=_application(side, Status.VISIT_SCHEDULED), technician=side.technician, visited_on=None, outcome=None
    )


def _visit_with_adjustments(side: Side) -> TechnicalVisit:
    return TechnicalVisitFactory(
        application=_application(side, Status.ADJUSTMENTS_PENDING),
        technician=side.technician,
        outcome=TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS,
        required_adjustments="Impermeabilizar el techo",
    )


def _installation(side: Side) -> Installation:
    return InstallationFactory(application=_application(side, Status.ACTIVE), technician=side.technician)


def _maintenance_visit(side: Side) -> MaintenanceVisit:
    return MaintenanceVisitFactory(installation=_installation(side), technician=side.technician)


def _ready_for_installation(side: Side) -> Application:
    application = _application(side, Status.INSTALLATION_SCHEDULED)
    TechnicalVisitFactory(application=application, technician=side.technician)
    return application


@dataclass(frozen=True)
class Endpoint:
    """One operation; ``make`` builds its target (or, for a create, its parent) on one side."""

    name: str
    method: str
    path: str  # "{pk}" is the target's id; creates put the parent's id in the body instead
    make: Callable[[Side], Model]
    body: Callable[[Model | None, dict[str, Side]], dict[str, Any]] = lambda target, sides: {}
    own_status: dict[str, int] | None = None  # by role; 200 (201 for creates) when not given
    created: type[Model] | None = None  # creates: the model whose rows must not appear on a refusal

    @property
    def is_list(self) -> bool:
        return self.path.endswith("/") and "{pk}" not in self.path and self.method == "get"


def _visit_create_body(parent: Model | None, sides: dict[str, Side]) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "application": parent.pk if parent else MISSING_PK,
        "technician": sides["own"].technician.pk,
        "scheduled_on": "2023-03-01",
    }


def _installation_create_body(parent: Model | None, sides: dict[str, Side]) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "application": parent.pk if parent else MISSING_PK,
        "technician": sides["own"].technician.pk,  # removed for technicians, who record their own
        "installer": InstallerFactory().pk,
        "installed_on": "2023-05-01",
        "components": [{"kind": "tinaco", "size": "2500", "unit": "L"}],
    }


def _maintenance_create_body(parent: Model | None, sides: dict[str, Side]) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "installation": parent.pk if parent else MISSING_PK,
        "kind": "pre_season",
        "visited_on": "2024-04-01",
        "next_due_on": "2024-10-01",
    }


TECHNICIAN_REFUSED = {"technician": 403, "coordinator": 200, "administrator": 200}
RESOURCES: dict[str, tuple[str, Callable[[Side], Model], dict[str, Any]]] = {
    "applications": ("applications", lambda side: _application(side, Status.REGISTERED), {"commitment_letter_on": "2023-03-01"}),
    "technical-visits": ("technical-visits", _pending_visit, {"notes": "Perro bravo; tocar fuerte."}),
    "installations": ("installations", _installation, {"tank_capacity_litres": 5000}),
    "maintenance-visits": ("maintenance-visits", _maintenance_visit, {"findings": "Filtro de hojas tapado."}),
}
ENDPOINTS: list[Endpoint] = []
for prefix, make, edit in RESOURCES.values():
    ENDPOINTS += [
        Endpoint(f"{prefix}:list", "get", f"/api/v1/{prefix}/", make),
        Endpoint(f"{prefix}:retrieve", "get", f"/api/v1/{prefix}/{{pk}}/", make),
        Endpoint(f"{prefix}:partial_update", "patch", f"/api/v1/{prefix}/{{pk}}/", make, lambda t, s, edit=edit: edit),
    ]
ENDPOINTS += [
    Endpoint(
        "applications:transition",
        "post",
        "/api/v1/applications/{pk}/transition/",
        RESOURCES["applications"][1],
        lambda target, sides: {"to": Status.DOCUMENTS_PENDING, "note": "Falta el predial."},
        own_status=TECHNICIAN_REFUSED,
    ),
    Endpoint(
        "technical-visits:record",
        "post",
        "/api/v1/technical-visits/{pk}/record/",
        _pending_visit,
        lambda target, sides: {"visited_on": "2023-03-02", "outcome": "viable", "measured_roof_area_m2": "42.50"},
    ),
    Endpoint(
        "technical-visits:verify_adjustments",
        "post",
        "/api/v1/technical-visits/{pk}/verify-adjustments/",
        _visit_with_adjustments,
        lambda target, sides: {"verified_on": "2023-04-01"},
    ),
    Endpoint(
        "technical-visits:create",
        "post",
        "/api/v1/technical-visits/",
        lambda side: _application(side, Status.DOCUMENTS_COMPLETE, assigned_technician=None),
        _visit_create_body,
        own_status=TECHNICIAN_REFUSED,
        created=TechnicalVisit,
    ),
    Endpoint(
        "installations:create",
        "post",
        "/api/v1/installations/",
        _ready_for_installation,
        _installation_create_body,
        created=Installation,
    ),
    Endpoint(
        "maintenance-visits:create",
        "post",
        "/api/v1/maintenance-visits/",
        _installation,
        _maintenance_create_body,
        created=MaintenanceVisit,
    ),
]
CASES = [
    pytest.param(role, endpoint, obj, id=f"{role}-{endpoint.name}-{obj}")
    for role in ROLES
    for endpoint in ENDPOINTS
    for obj in OBJECTS
    if not (endpoint.is_list and obj == "missing")
]


def _expected(role: str, endpoint: Endpoint, obj: str) -> int:
    if role == "anonymous":
        return 401
    own = (endpoint.own_status or {}).get(role, 200)
    if endpoint.created and own == 200:
        own = 201
    if own == 403 and endpoint.created:
        return 403  # a role refused to create is refused before any parent is looked up
    if endpoint.is_list or obj == "own" or (obj == "foreign" and role == "administrator"):
        return own
    return 404


@pytest.mark.parametrize(("role", "endpoint", "obj"), CASES)
def test_access(request, sides, coordinator, administrator, role, endpoint, obj):
    # given: the target record (or the parent of the record to create) on the chosen side
    caller = None if role == "anonymous" else request.getfixturevalue(role)
    target = endpoint.make(sides[obj]) if obj != "missing" else None
    client = APIClient()
    if caller is not None:
        client.force_authenticate(caller)
    body = endpoint.body(target, sides)
    if endpoint.created and role == "technician":
        body.pop("technician", None)
    headers: dict[str, str] = {}
    if endpoint.method == "patch":
        headers["If-Match"] = f'"{target.version if target else 1}"'
    if endpoint.created:
        headers["Idempotency-Key"] = f"matrix-{uuid.uuid4()}"
    rows_before = endpoint.created.objects.count() if endpoint.created else None

    # when
    path = endpoint.path.format(pk=target.pk if target else MISSING_PK)
    response = getattr(client, endpoint.method)(path, body, format="json", headers=headers)

    # then
    expected = _expected(role, endpoint, obj)
    assert response.status_code == expected, response.content
    if endpoint.created and expected != 201:
        assert endpoint.created.objects.count() == rows_before
    if endpoint.is_list and expected == 200:
        listed = {row["id"] for row in response.json()["results"]}
        assert (target.pk in listed) == (obj == "own" or role == "administrator")


@pytest.mark.parametrize("role", ["technician", "coordinator"])
def test_a_refused_edit_of_anothers_record_writes_nothing(request, sides, role):
    # given
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(role))
    visit = _maintenance_visit(sides["foreign"])
    # when
    response = client.patch(
        f"/api/v1/maintenance-visits/{visit.pk}/", {"findings": "ajeno"}, format="json", headers={"If-Match": '"1"'}
    )
    # then
    assert response.status_code == 404
    visit.refresh_from_db()
    assert (visit.findings, visit.version) == ("", 1)


def test_anothers_record_and_a_missing_one_answer_alike(sides, technician):
    client = APIClient()
    client.force_authenticate(technician)
    foreign = _installation(sides["foreign"])
    answers = [client.get(f"/api/v1/installations/{pk}/") for pk in (foreign.pk, MISSING_PK)]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].content == answers[1].content


def test_a_coordinator_who_covers_no_alcaldia_sees_nothing(sides):
    # given: a coordinator without alcaldías, and records in every side
    idle = UserFactory(username="sin-alcaldias", role=User.Role.COORDINATOR)
    for side in sides.values():
        _maintenance_visit(side)
    client = APIClient()
    client.force_authenticate(idle)
    # then
    for prefix in ("applications", "technical-visits", "installations", "maintenance-visits"):
        assert client.get(f"/api/v1/{prefix}/").json()["results"] == [], prefix


def test_an_inactive_account_sees_nothing(technician):
    technician.is_active = False
    technician.save()
    client = APIClient()
    client.force_authenticate(technician)
    # force_authenticate skips the authentication classes; the scope still shows nothing to an inactive user
    assert client.get("/api/v1/applications/").json()["results"] == []


# --- Every API view needs authentication, except the ones meant to be open ------------------------------
OPEN_PREFIXES = ("/api/v1/public/", "/api/schema/", "/api/docs/", "/api/redoc/")
OPEN_PATHS = {"/api/v1/auth/token/"}
# One sample value that every parameter of ours accepts: [0-9]+, [^/.]+, [0-9]{4}, <int:…>, <str:…>.
SAMPLE = "2023"
SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"  # for <uuid:…> (a job)


def _walk(patterns: list, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, prefix + _sample(str(pattern.pattern)))
        elif isinstance(pattern, URLPattern):
            found.append((prefix + _sample(str(pattern.pattern)), pattern))
    return found


def _sample(route: str) -> str:
    """A concrete path for a router's regex or a path() route: each parameter replaced by ``SAMPLE``."""
    route = re.sub(r"\(\?P<\w+>[^)]*\)", SAMPLE, route)  # regex groups first: they contain <name> too
    route = re.sub(r"<uuid:\w+>", SAMPLE_UUID, route)
    route = re.sub(r"<(?:\w+:)?\w+>", SAMPLE, route)
    return route.lstrip("^").rstrip("$").replace("\\", "")


def _api_routes() -> list[tuple[str, Any, set[str]]]:
    """(path, view class, HTTP methods) for every DRF view under /api/, format-suffix duplicates left out."""
    routes = []
    for path, pattern in _walk(get_resolver().url_patterns):
        path = "/" + path
        if not path.startswith("/api/") or "format" in pattern.pattern.regex.groupindex:
            continue
        view_class = getattr(pattern.callback, "cls", None)
        assert view_class is not None, f"{path} is a plain Django view inside the API"
        actions = getattr(pattern.callback, "actions", None)
        methods = set(actions) if actions else {m for m in view_class.http_method_names if hasattr(view_class, m)}
        assert resolve(path).func is pattern.callback, f"sample path {path} does not reach its own view"
        routes.append((path, view_class, methods - {"options", "head"}))
    return routes


@pytest.mark.django_db
def test_no_api_view_admits_anonymous_callers_except_the_open_ones():
    client = APIClient()
    routes = _api_routes()
    checked = {path for path, _, _ in routes}
    assert {"/api/v1/applications/", f"/api/v1/applications/{SAMPLE}/transition/", "/api/v1/me/worklist/"} <= checked
    open_to_anyone = []
    for path, view_class, methods in routes:
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            continue
        for method in sorted(methods):
            response = getattr(client, method)(path, {}, format="json")
            if response.status_code not in (401, 403):
                open_to_anyone.append(f"{method.upper()} {path} ({view_class.__name__}) → {response.status_code}")
    assert open_to_anyone == []
