"""The program officers' admin: every model reachable, scoped by role, status changed only through the service."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from installations.identifiers import folio_display
from installations.lifecycle import Status
from installations.models import (
    Alcaldia,
    Applicant,
    Application,
    Colonia,
    Component,
    Dwelling,
    FieldPhoto,
    Installation,
    MaintenanceReminder,
    MaintenanceVisit,
    Payment,
    StatusChange,
    TechnicalVisit,
    User,
)
from tests.factories import (
    ApplicantFactory,
    ApplicationFactory,
    ColoniaFactory,
    DwellingFactory,
    EligibleColoniaFactory,
    InstallerFactory,
    UserFactory,
)

INSTALLATIONS_MODELS = sorted(apps.get_app_config("installations").get_models(), key=lambda model: model.__name__)
# Registration creates requests, the lifecycle service writes history, the maintenance sweep writes
# reminders and technicians' phones send photos: none of them is added by hand.
NOT_ADDABLE = {Application, StatusChange, MaintenanceReminder, FieldPhoto}
NEVER_DELETED = {Application, StatusChange, Installation, MaintenanceReminder}
CASE_MODELS = [
    Application,
    Applicant,
    Dwelling,
    TechnicalVisit,
    Payment,
    Installation,
    Component,
    MaintenanceVisit,
    StatusChange,
    MaintenanceReminder,
]
REFERENCE_MODELS = [model for model in INSTALLATIONS_MODELS if model not in CASE_MODELS]
FOREIGN_ALCALDIA = "09012"  # Tlalpan: the coordinator fixture covers 09009 and 09007 only


def admin_url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:installations_{model._meta.model_name}_{view}", args=args)


def transition_url(application: Application) -> str:
    return admin_url(Application, "transition", application.pk)


@dataclass
class Case:
    """One request with a record of every kind attached to it."""

    application: Application
    visit: TechnicalVisit
    payment: Payment
    installation: Installation
    component: Component
    maintenance: MaintenanceVisit
    change: StatusChange
    reminder: MaintenanceReminder

    def pks(self, model: type[Model]) -> set[int]:
        rows = {
            Application: self.application,
            Applicant: self.application.applicant,
            Dwelling: self.application.dwelling,
            TechnicalVisit: self.visit,
            Payment: self.payment,
            Installation: self.installation,
            Component: self.component,
            MaintenanceVisit: self.maintenance,
            StatusChange: self.change,
            MaintenanceReminder: self.reminder,
        }
        return {rows[model].pk}


def make_case(alcaldia_id: str = "09009") -> Case:
    dwelling = DwellingFactory(colonia=ColoniaFactory(alcaldia_id=alcaldia_id))
    application = ApplicationFactory(dwelling=dwelling, status=Status.ACTIVE)
    technician = UserFactory(role=User.Role.TECHNICIAN)
    visit = TechnicalVisit.objects.create(
        application=application,
        technician=technician,
        scheduled_on=date(2023, 3, 1),
        visited_on=date(2023, 3, 2),
        outcome=TechnicalVisit.Outcome.VIABLE,
    )
    payment = Payment.objects.create(
        application=application, amount_mxn=Decimal("3500.00"), method=Payment.Method.TRANSFER, paid_on=date(2023, 3, 10)
    )
    installation = Installation.objects.create(
        application=application,
        dwelling=dwelling,
        technician=technician,
        installer=InstallerFactory(),
        installed_on=date(2023, 4, 1),
    )
    component = Component.objects.create(
        installation=installation, kind=Component.Kind.ROOF_TANK, size=Decimal("2500"), unit=Component.Unit.LITRES
    )
    maintenance = MaintenanceVisit.objects.create(
        installation=installation,
        kind=MaintenanceVisit.Kind.PRE_SEASON,
        visited_on=date(2024, 4, 1),
        next_due_on=date(2025, 4, 1),
    )
    FieldPhoto.objects.create(
        installation=installation, image="field/installation/1/foto.jpg", width=640, height=480, taken_by=technician
    )
    change = StatusChange.objects.create(
        application=application,
        from_status=Status.INSTALLED,
        to_status=Status.ACTIVE,
        changed_by=technician,
        changed_at=datetime(2023, 4, 2, 12, tzinfo=UTC),
    )
    reminder = MaintenanceReminder.objects.create(
        installation=installation, season=2025, reason=MaintenanceReminder.Reason.FLAGGED, due_since=date(2025, 5, 2)
    )
    return Case(application, visit, payment, installation, component, maintenance, change, reminder)


@pytest.fixture
def case(db) -> Case:
    EligibleColoniaFactory()
    return make_case()


def results(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


# --- Every model is there for the administrator ---------------------------------------------------------
def test_every_model_of_the_program_is_registered():
    assert [model for model in INSTALLATIONS_MODELS if not admin.site.is_registered(model)] == []


@pytest.mark.parametrize("model", INSTALLATIONS_MODELS, ids=lambda model: model.__name__)
def test_administrator_opens_every_changelist(client, administrator, case, model):
    client.force_login(administrator)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", [m for m in INSTALLATIONS_MODELS if m not in NOT_ADDABLE], ids=lambda model: model.__name__)
def test_administrator_opens_every_add_page(client, administrator, model):
    client.force_login(administrator)

    response = client.get(admin_url(model, "add"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", sorted(NOT_ADDABLE, key=str), ids=lambda model: model.__name__)
def test_requests_and_their_history_cannot_be_added_by_hand(client, administrator, model):
    client.force_login(administrator)

    response = client.get(admin_url(model, "add"))

    assert response.status_code == 403


@pytest.mark.parametrize("model", INSTALLATIONS_MODELS, ids=lambda model: model.__name__)
def test_administrator_opens_a_change_page_of_every_model(client, administrator, case, model):
    client.force_login(administrator)
    obj = model._default_manager.first()

    response = client.get(admin_url(model, "change", obj.pk))

    assert response.status_code == 200


@pytest.mark.parametrize("model", sorted(NEVER_DELETED, key=str), ids=lambda model: model.__name__)
def test_nobody_deletes_requests_history_or_systems(client, administrator, case, model):
    client.force_login(administrator)
    obj = model._default_manager.first()

    response = client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})

    assert response.status_code == 403
    assert model._default_manager.filter(pk=obj.pk).exists()


def test_the_application_changelist_offers_no_bulk_actions(client, administrator, case):
    client.force_login(administrator)

    response = client.get(admin_url(Application, "changelist"))

    assert response.context["action_form"] is None
    assert response.context["cl"].model_admin.get_actions(response.wsgi_request) == {}


# --- Search ----------------------------------------------------------------------------------------------
def test_search_finds_a_request_by_folio_typed_in_lower_case_with_dashes(client, administrator):
    wanted, _other = ApplicationFactory(), ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "changelist"), {"q": folio_display(wanted.folio).lower()})

    assert results(response) == {wanted.pk}


def test_search_finds_a_request_by_folio_typed_with_spaces(client, administrator):
    wanted, _other = ApplicationFactory(), ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "changelist"), {"q": f" {folio_display(wanted.folio).replace('-', ' ')} "})

    assert results(response) == {wanted.pk}


def test_search_finds_a_request_by_curp_in_any_case(client, administrator):
    wanted, _other = ApplicationFactory(), ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "changelist"), {"q": wanted.applicant.curp.lower()})

    assert results(response) == {wanted.pk}


def test_search_finds_a_request_by_surname(client, administrator):
    wanted = ApplicationFactory(applicant=ApplicantFactory(first_surname="Xochihua", second_surname="Tepetla"))
    ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "changelist"), {"q": "xochihua tepetla"})

    assert results(response) == {wanted.pk}


def test_search_in_related_records_finds_them_by_folio(client, administrator, case):
    make_case()
    client.force_login(administrator)

    response = client.get(admin_url(TechnicalVisit, "changelist"), {"q": folio_display(case.application.folio).lower()})

    assert results(response) == {case.visit.pk}


def test_the_colonia_filter_lists_the_colonias_of_the_chosen_alcaldia(client, administrator):
    here, elsewhere = ColoniaFactory(alcaldia_id="09009"), ColoniaFactory(alcaldia_id="09007")
    wanted = ApplicationFactory(dwelling=DwellingFactory(colonia=here))
    ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09009")))
    client.force_login(administrator)

    response = client.get(
        admin_url(Application, "changelist"), {"dwelling__colonia__alcaldia__cvegeo__exact": "09009", "colonia": here.pk}
    )

    assert results(response) == {wanted.pk}
    colonia_filter = next(f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "colonia")
    offered = {pk for pk, _name in colonia_filter.lookup_choices}
    assert here.pk in offered
    assert elsewhere.pk not in offered


# --- Coordinators: their alcaldías, reference data read-only ------------------------------------------------
def test_coordinator_sees_the_requests_of_her_alcaldias_only(client, coordinator):
    in_coyoacan = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09009")))
    in_iztapalapa = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09007")))
    in_tlalpan = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id=FOREIGN_ALCALDIA)))
    client.force_login(coordinator)

    response = client.get(admin_url(Application, "changelist"))

    assert response.status_code == 200
    assert results(response) == {in_coyoacan.pk, in_iztapalapa.pk}
    assert in_tlalpan.folio_display not in response.content.decode()


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_coordinator_sees_case_records_of_her_alcaldias_only(client, coordinator, model):
    own, foreign = make_case("09009"), make_case(FOREIGN_ALCALDIA)
    client.force_login(coordinator)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert results(response) == own.pks(model)
    assert not results(response) & foreign.pks(model)


def test_coordinator_cannot_open_a_foreign_request(client, coordinator):
    foreign = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id=FOREIGN_ALCALDIA)))
    client.force_login(coordinator)

    change = client.get(admin_url(Application, "change", foreign.pk))
    transition = client.post(transition_url(foreign), {"to": Status.WITHDRAWN})

    assert change.status_code in (302, 404)
    assert transition.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Status.REGISTERED


def test_coordinator_cannot_pick_a_foreign_request_for_a_visit(client, coordinator):
    foreign = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id=FOREIGN_ALCALDIA)))
    technician = UserFactory(role=User.Role.TECHNICIAN)
    client.force_login(coordinator)

    response = client.post(
        admin_url(TechnicalVisit, "add"),
        {"application": foreign.pk, "technician": technician.pk, "scheduled_on": "2023-05-01"},
    )

    assert response.status_code == 200
    assert "application" in response.context["adminform"].form.errors
    assert not TechnicalVisit.objects.exists()


def test_autocomplete_offers_a_coordinator_only_her_requests(client, coordinator):
    own = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09007")))
    ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id=FOREIGN_ALCALDIA)))
    client.force_login(coordinator)

    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "installations", "model_name": "technicalvisit", "field_name": "application", "term": ""},
    )

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(own.pk)]


@pytest.mark.parametrize("model", REFERENCE_MODELS, ids=lambda model: model.__name__)
def test_coordinator_can_view_reference_data(client, coordinator, model):
    client.force_login(coordinator)

    response = client.get(admin_url(model, "changelist"))

    assert response.status_code == 200


def test_coordinator_can_view_but_not_add_or_change_an_alcaldia(client, coordinator):
    client.force_login(coordinator)
    url = admin_url(Alcaldia, "change", "09009")

    view = client.get(url)
    add = client.get(admin_url(Alcaldia, "add"))
    change = client.post(url, {"cvegeo": "09009", "name": "Otro nombre", "short_names": "[]"})

    assert view.status_code == 200
    assert add.status_code == 403
    assert change.status_code == 403
    assert Alcaldia.objects.get(pk="09009").name != "Otro nombre"


def test_coordinator_cannot_add_a_colonia(client, coordinator):
    client.force_login(coordinator)

    response = client.post(admin_url(Colonia, "add"), {"alcaldia": "09009", "name": "Nueva", "kind": "colonia"})

    assert response.status_code == 403
    assert not Colonia.objects.filter(name="Nueva").exists()


def test_coordinator_cannot_give_herself_more_alcaldias(client, coordinator):
    client.force_login(coordinator)

    response = client.get(admin_url(User, "change", coordinator.pk))
    post = client.post(admin_url(User, "change", coordinator.pk), {"username": coordinator.username, "alcaldias": ["09012"]})

    assert response.status_code == 200
    assert post.status_code == 403
    assert set(coordinator.alcaldias.values_list("pk", flat=True)) == {"09009", "09007"}


def test_a_technician_marked_as_staff_gets_nothing(client, case):
    technician = UserFactory(role=User.Role.TECHNICIAN, is_staff=True)
    client.force_login(technician)

    index = client.get(reverse("admin:index"))
    changelist = client.get(admin_url(Application, "changelist"))
    alcaldias = client.get(admin_url(Alcaldia, "changelist"))

    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert changelist.status_code == 403
    assert alcaldias.status_code == 403


# --- Adding records by hand -----------------------------------------------------------------------------------
def test_administrator_creates_a_coordinator_with_her_alcaldias(client, administrator):
    client.force_login(administrator)

    response = client.post(
        admin_url(User, "add"),
        {
            "username": "coordinacion-tlalpan",
            "usable_password": "true",
            "password1": "una-contraseña-larga-2024",
            "password2": "una-contraseña-larga-2024",
            "role": User.Role.COORDINATOR,
            "alcaldias": ["09012"],
        },
    )

    assert response.status_code == 302
    created = User.objects.get(username="coordinacion-tlalpan")
    assert created.role == User.Role.COORDINATOR
    assert list(created.alcaldias.values_list("pk", flat=True)) == ["09012"]


def test_an_installation_added_by_hand_goes_to_the_requests_dwelling_and_leaves_the_status(client, administrator):
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED)
    installer = InstallerFactory()
    client.force_login(administrator)

    response = client.post(
        admin_url(Installation, "add"),
        {
            "application": application.pk,
            "technician": administrator.pk,
            "installer": installer.pk,
            "installed_on": "2023-06-01",
            "tank_capacity_litres": "2500",
            "funding_source": Installation.FundingSource.SEDEMA,
            "components-TOTAL_FORMS": "1",
            "components-INITIAL_FORMS": "0",
            "components-0-kind": Component.Kind.ROOF_TANK,
            "components-0-size": "2500",
            "components-0-unit": Component.Unit.LITRES,
        },
    )

    assert response.status_code == 302
    installation = Installation.objects.get(application=application)
    assert installation.dwelling_id == application.dwelling_id
    assert installation.components.count() == 1
    application.refresh_from_db()
    assert application.status == Status.INSTALLATION_SCHEDULED


def test_a_second_working_system_for_a_dwelling_is_a_form_error(client, administrator, case):
    again = ApplicationFactory(dwelling=case.application.dwelling, program_year_id=2024)
    client.force_login(administrator)

    response = client.post(
        admin_url(Installation, "add"),
        {
            "application": again.pk,
            "technician": administrator.pk,
            "installer": case.installation.installer_id,
            "installed_on": "2024-06-01",
            "tank_capacity_litres": "2500",
            "funding_source": Installation.FundingSource.SEDEMA,
            "components-TOTAL_FORMS": "0",
            "components-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "ya tiene un sistema en funcionamiento" in response.content.decode()
    assert not Installation.objects.filter(application=again).exists()


def test_coordinator_records_a_visit_for_a_request_of_her_alcaldia(client, coordinator):
    own = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09009")))
    technician = UserFactory(role=User.Role.TECHNICIAN)
    client.force_login(coordinator)

    response = client.post(
        admin_url(TechnicalVisit, "add"), {"application": own.pk, "technician": technician.pk, "scheduled_on": "2023-05-01"}
    )

    assert response.status_code == 302
    assert TechnicalVisit.objects.get().application == own


# --- Status: only through the transition page -----------------------------------------------------------
def test_the_change_form_cannot_edit_status_folio_or_code(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "change", application.pk))

    editable = set(response.context["adminform"].form.fields)
    assert {"status", "status_changed_at", "folio", "verification_code_hash"}.isdisjoint(editable)
    # what registration decided under the year's rules is not edited here either
    assert {"program_year", "modality", "applicant", "dwelling", "privacy_consent_at"}.isdisjoint(editable)
    assert "Registrada" in response.content.decode()


def test_posting_a_status_to_the_change_form_changes_nothing(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)
    data = {
        "program_year": 2019,
        "modality": "partial_subsidy_50",
        "channel": application.channel,
        "applicant": application.applicant_id,
        "dwelling": application.dwelling_id,
        "assigned_technician": "",
        "privacy_consent_at_0": "2023-02-01",
        "privacy_consent_at_1": "10:00:00",
        "commitment_letter_on": "2023-02-03",
        "status": Status.INSTALLED,
        "folio": "0000000000000",
    }
    for prefix in ("status_changes", "technical_visits", "payment"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}

    response = client.post(admin_url(Application, "change", application.pk), data)

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.commitment_letter_on == date(2023, 2, 3)
    assert application.status == Status.REGISTERED
    assert (application.program_year_id, application.modality) == (2023, "total_subsidy")
    assert application.folio != "0000000000000"
    assert not StatusChange.objects.exists()


def test_the_change_page_links_to_the_transition_page(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.get(admin_url(Application, "change", application.pk))

    assert "Cambiar estado" in response.content.decode()
    assert transition_url(application) in response.content.decode()


def test_the_transition_page_offers_the_allowed_steps_only(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.get(transition_url(application))

    assert response.status_code == 200
    offered = dict(response.context["form"].fields["to"].choices)
    assert offered == {
        Status.DOCUMENTS_PENDING: "Documentos pendientes",
        Status.DOCUMENTS_COMPLETE: "Documentos completos",
        Status.WITHDRAWN: "Desistida",
        Status.REJECTED: "Rechazada",
    }


def test_the_transition_moves_the_request_and_records_who_did_it(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.post(transition_url(application), {"to": Status.DOCUMENTS_COMPLETE, "note": "Entregó todo."})

    assert response.status_code == 302
    assert response.url == admin_url(Application, "change", application.pk)
    application.refresh_from_db()
    assert application.status == Status.DOCUMENTS_COMPLETE
    change = StatusChange.objects.get(application=application)
    assert (change.from_status, change.to_status) == (Status.REGISTERED, Status.DOCUMENTS_COMPLETE)
    assert change.changed_by == administrator
    assert change.note == "Entregó todo."
    shown = client.get(response.url).content.decode()
    assert "pasó a «Documentos completos»" in shown


def test_coordinator_moves_a_request_of_her_alcaldia(client, coordinator):
    application = ApplicationFactory(dwelling=DwellingFactory(colonia=ColoniaFactory(alcaldia_id="09007")))
    client.force_login(coordinator)

    response = client.post(transition_url(application), {"to": Status.DOCUMENTS_PENDING})

    assert response.status_code == 302
    assert StatusChange.objects.get(application=application).changed_by == coordinator


def test_an_illegal_transition_shows_the_reason_and_changes_nothing(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.post(transition_url(application), {"to": Status.INSTALLED})

    assert response.status_code == 200
    assert "No se puede pasar de «Registrada» a «Instalada»: el proceso no lo permite." in response.content.decode()
    application.refresh_from_db()
    assert application.status == Status.REGISTERED
    assert not StatusChange.objects.exists()


def test_a_step_without_its_evidence_says_what_is_missing(client, administrator):
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED)
    client.force_login(administrator)

    response = client.post(transition_url(application), {"to": Status.VISIT_DONE})

    assert response.status_code == 200
    assert "falta el registro de una visita técnica realizada" in response.content.decode()
    application.refresh_from_db()
    assert application.status == Status.VISIT_SCHEDULED


def test_a_value_that_is_not_a_status_is_refused_by_the_form(client, administrator):
    application = ApplicationFactory()
    client.force_login(administrator)

    response = client.post(transition_url(application), {"to": "aprobada"})

    assert response.status_code == 200
    assert response.context["form"].errors["to"]
    application.refresh_from_db()
    assert application.status == Status.REGISTERED


def test_a_closed_request_has_no_further_steps(client, administrator):
    application = ApplicationFactory(status=Status.REJECTED)
    client.force_login(administrator)

    response = client.get(transition_url(application))

    assert response.status_code == 200
    assert "Desde este estado el proceso no tiene más pasos." in response.content.decode()


# --- Performance: no query per row ---------------------------------------------------------------------------
def changelist_queries(client, model: type[Model]) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_changelist_queries_do_not_grow_with_the_rows(client, administrator, model):
    client.force_login(administrator)
    for _ in range(3):
        make_case()
    with_3 = changelist_queries(client, model)
    for _ in range(27):
        make_case()

    with_30 = changelist_queries(client, model)

    assert with_30 == with_3


def test_coordinator_changelist_queries_do_not_grow_with_the_rows(client, coordinator):
    client.force_login(coordinator)
    ApplicationFactory.create_batch(3)
    with_3 = changelist_queries(client, Application)
    ApplicationFactory.create_batch(27)

    with_30 = changelist_queries(client, Application)

    assert with_30 == with_3


@pytest.mark.parametrize("factory", [EligibleColoniaFactory, ColoniaFactory], ids=lambda factory: factory.__name__)
def test_reference_changelist_queries_do_not_grow_with_the_rows(client, administrator, factory):
    client.force_login(administrator)
    model = factory._meta.model
    factory.create_batch(3)
    with_3 = changelist_queries(client, model)
    factory.create_batch(27)

    with_30 = changelist_queries(client, model)

    assert with_30 == with_3
