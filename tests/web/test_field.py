"""The technicians' pages with Django's test client: access, the worklist's order, the three forms, GPS, photos."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import ExifTags, Image

from installations.lifecycle import Status
from installations.models import Application, Component, FieldPhoto, Installation, MaintenanceVisit, TechnicalVisit
from installations.selectors import worklist_nearest
from tests.factories import (
    ApplicationFactory,
    DwellingFactory,
    InstallationFactory,
    InstallerFactory,
    TechnicalVisitFactory,
    UserFactory,
)
from web.photos import PHOTO_MAX_SIDE_PX

pytestmark = pytest.mark.django_db

# Two homes in Tláhuac, about 4.5 km apart, and a point next to the second one.
NEAR_ZAPOTITLAN = (Decimal("19.296000"), Decimal("-99.034000"))
SAN_JUAN_IXTAYOPAN = (Decimal("19.258000"), Decimal("-99.014000"))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def scheduled_visit(technician, *, days_ago=0, position=NEAR_ZAPOTITLAN, street="Calle Tláloc 1"):
    """A technical visit planned for the technician, not yet made."""
    dwelling = DwellingFactory(latitude=position[0], longitude=position[1], street_address=street)
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED, dwelling=dwelling, assigned_technician=technician)
    return TechnicalVisitFactory(
        application=application,
        technician=technician,
        scheduled_on=timezone.localdate() - timedelta(days=days_ago),
        visited_on=None,
        outcome=None,
        measured_roof_area_m2=None,
        measured_roof_material="",
    )


def scheduled_installation(technician, *, position=SAN_JUAN_IXTAYOPAN):
    """A request with a viable visit, scheduled for installation and assigned to the technician."""
    dwelling = DwellingFactory(latitude=position[0], longitude=position[1], street_address="Cerrada Lluvia 7")
    application = ApplicationFactory(
        status=Status.INSTALLATION_SCHEDULED,
        status_changed_at=timezone.now(),
        dwelling=dwelling,
        assigned_technician=technician,
    )
    TechnicalVisitFactory(application=application, technician=technician)
    return application


def system_due(technician):
    """A working system of the technician's, never maintained and past its first maintenance date."""
    return InstallationFactory(technician=technician, installed_on=timezone.localdate() - timedelta(days=200))


def gps_jpeg(size=(3000, 2000)) -> bytes:
    picture = Image.new("RGB", size, (40, 90, 160))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (19.0, 17.0, 45.6)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (99.0, 2.0, 2.4)
    output = BytesIO()
    picture.save(output, "JPEG", exif=exif)
    return output.getvalue()


GPS = {"latitude": "19.2960123", "longitude": "-99.0340456", "accuracy_m": "8.5"}


# --- Access ---------------------------------------------------------------------------------------------
FIELD_PATHS = ["/campo/", "/campo/visitas/1/", "/campo/solicitudes/1/instalacion/", "/campo/sistemas/1/mantenimiento/"]


@pytest.mark.parametrize("path", FIELD_PATHS)
def test_anonymous_callers_are_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/entrar/?next=")


@pytest.mark.parametrize("path", FIELD_PATHS)
def test_managers_are_refused(client, coordinator, administrator, path):
    for user in (coordinator, administrator):
        client.force_login(user)
        assert client.get(path).status_code == 403


def test_another_technicians_visit_is_not_found(client, technician):
    colleague = UserFactory(username="colega")
    visit = scheduled_visit(colleague)
    client.force_login(technician)

    assert client.get(f"/campo/visitas/{visit.pk}/").status_code == 404


# --- The worklist ----------------------------------------------------------------------------------------
def test_the_worklist_lists_visits_installations_and_maintenance_with_links(client, technician):
    visit = scheduled_visit(technician, days_ago=2)
    application = scheduled_installation(technician)
    system = system_due(technician)
    client.force_login(technician)

    response = client.get("/campo/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/campo/visitas/{visit.pk}/"' in page
    assert f'href="/campo/solicitudes/{application.pk}/instalacion/"' in page
    assert f'href="/campo/sistemas/{system.pk}/mantenimiento/"' in page
    assert "Atrasada" in page
    assert 'lang="es-mx"' in page


def test_without_a_position_the_worklist_keeps_the_due_order(technician):
    later = scheduled_visit(technician, days_ago=0, position=SAN_JUAN_IXTAYOPAN)
    sooner = scheduled_visit(technician, days_ago=3, position=NEAR_ZAPOTITLAN)

    work = worklist_nearest(user=technician, origin=None)

    assert [task.id for task in work.items] == [sooner.pk, later.pk]
    assert not work.by_distance


def test_with_a_position_the_nearest_home_comes_first(client, technician):
    far = scheduled_visit(technician, days_ago=3, position=NEAR_ZAPOTITLAN, street="Calle Lejana 1")
    near = scheduled_visit(technician, days_ago=0, position=SAN_JUAN_IXTAYOPAN, street="Calle Cercana 2")
    nowhere = scheduled_visit(technician, days_ago=5, position=(None, None), street="Calle Sin Punto 3")
    client.force_login(technician)

    response = client.get("/campo/", {"lat": "19.259", "lng": "-99.015"})

    tasks = response.context["work"].items
    assert [task.id for task in tasks] == [near.pk, far.pk, nowhere.pk]
    assert tasks[0].distance_km < 0.2 < 4 < tasks[1].distance_km < 5
    page = response.content.decode()
    assert page.index("Calle Cercana 2") < page.index("Calle Lejana 1") < page.index("Calle Sin Punto 3")
    assert "Ordenada por cercanía" in page


def test_a_position_outside_the_city_is_ignored(client, technician):
    scheduled_visit(technician)
    client.force_login(technician)

    response = client.get("/campo/", {"lat": "20.67", "lng": "-103.35"})  # Guadalajara

    assert not response.context["work"].by_distance
    assert "no está en la Ciudad de México" in response.content.decode()


# --- Technical visit -------------------------------------------------------------------------------------
def test_a_technical_visit_is_recorded_and_leaves_the_worklist(client, technician, media_root):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "measured_roof_material": "concreto",
            "measured_roof_area_m2": "52.5",
            "outcome": "viable",
            "required_adjustments": "",
            "notes": "Techo en buen estado.",
            **GPS,
        },
        follow=True,
    )

    assert response.redirect_chain == [("/campo/", 302)]
    assert "Visita técnica del folio" in response.content.decode()
    visit.refresh_from_db()
    assert visit.outcome == TechnicalVisit.Outcome.VIABLE
    assert visit.measured_roof_area_m2 == Decimal("52.50")
    assert Application.objects.get(pk=visit.application_id).status == Status.VIABLE
    assert visit.pk not in [task.id for task in response.context["work"].items]
    # The phone's reading is stored on the record itself, rounded to the field's precision.
    assert (visit.gps_latitude, visit.gps_longitude, visit.gps_accuracy_m) == (
        Decimal("19.296012"),
        Decimal("-99.034046"),
        Decimal("8.5"),
    )
    assert not FieldPhoto.objects.exists()


def test_a_technical_visit_without_outcome_shows_the_error_next_to_it_and_stores_nothing(client, technician, media_root):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(f"/campo/visitas/{visit.pk}/", {"visited_on": timezone.localdate().isoformat(), **GPS})

    assert response.status_code == 400
    assert response.context["form"].errors["outcome"]
    assert 'role="alert"' in response.content.decode()
    visit.refresh_from_db()
    assert visit.outcome is None
    assert visit.gps_latitude is None
    assert not media_root.exists()


def test_adjustments_are_required_by_the_service_and_shown_next_to_the_field(client, technician):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {"visited_on": timezone.localdate().isoformat(), "outcome": "viable_with_adjustments", "required_adjustments": ""},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["required_adjustments"] == ["Indique qué adecuaciones necesita la vivienda."]
    visit.refresh_from_db()
    assert visit.outcome is None
    assert Application.objects.get(pk=visit.application_id).status == Status.VISIT_SCHEDULED


def test_a_future_visit_date_is_refused_by_the_service(client, technician):
    visit = scheduled_visit(technician)
    client.force_login(technician)
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = client.post(f"/campo/visitas/{visit.pk}/", {"visited_on": tomorrow.isoformat(), "outcome": "viable"})

    assert response.status_code == 400
    assert "futuro" in response.context["form"].errors["visited_on"][0]
    visit.refresh_from_db()
    assert visit.outcome is None


def test_a_reading_outside_mexico_city_is_refused_and_nothing_is_stored(client, technician, media_root):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "outcome": "viable",
            "latitude": "20.67",
            "longitude": "-103.35",
            "accuracy_m": "10",
        },
    )

    assert response.status_code == 400
    assert "fuera de la Ciudad de México" in " ".join(response.context["form"].gps_errors)
    assert "fuera de la Ciudad de México" in response.content.decode()
    visit.refresh_from_db()
    assert visit.outcome is None
    assert not media_root.exists()


def test_a_reading_without_its_accuracy_is_refused(client, technician):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {"visited_on": timezone.localdate().isoformat(), "outcome": "viable", "latitude": "19.3", "longitude": "-99.1"},
    )

    assert response.status_code == 400
    assert response.context["form"].gps_errors == ["La ubicación llegó incompleta; vuelva a tomarla."]


def test_a_reading_with_no_accuracy_to_speak_of_is_refused(client, technician):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {"visited_on": timezone.localdate().isoformat(), "outcome": "viable", **GPS, "accuracy_m": "0"},
    )

    assert response.status_code == 400
    assert response.context["form"].gps_errors == ["La precisión debe ser mayor que cero."]
    visit.refresh_from_db()
    assert visit.outcome is None


# --- Photos -----------------------------------------------------------------------------------------------
def test_a_photo_is_stored_shrunk_and_without_its_gps_metadata(client, technician, media_root):
    visit = scheduled_visit(technician)
    client.force_login(technician)
    original = gps_jpeg()
    assert Image.open(BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test photo does carry GPS

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "outcome": "viable",
            "photos": [SimpleUploadedFile("techo.jpg", original, content_type="image/jpeg")],
        },
    )

    assert response.status_code == 302
    photo = FieldPhoto.objects.get()
    assert photo.technical_visit == visit
    assert photo.taken_by == technician
    assert re.fullmatch(rf"field/technical_visit/{visit.pk}/[0-9a-f]{{32}}\.jpg", photo.image.name)
    assert (photo.width, photo.height) == (1600, 1067)
    stored = Path(photo.image.path)
    assert stored.is_relative_to(media_root)
    picture = Image.open(stored)
    assert picture.format == "JPEG"
    assert max(picture.size) <= PHOTO_MAX_SIDE_PX
    assert picture.size == (1600, 1067)
    assert len(picture.getexif()) == 0
    assert "exif" not in picture.info
    assert b"PhoneCo" not in stored.read_bytes()
    assert not list(media_root.rglob("*.json"))  # no loose files beside the photo


def test_a_photo_is_shown_only_to_staff_who_may_see_its_record(client, technician, coordinator):
    visit = scheduled_visit(technician)
    client.force_login(technician)
    client.post(
        f"/campo/visitas/{visit.pk}/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "outcome": "viable",
            "photos": [SimpleUploadedFile("techo.jpg", gps_jpeg(size=(800, 600)), content_type="image/jpeg")],
        },
    )
    photo = FieldPhoto.objects.get()

    response = client.get(f"/campo/fotos/{photo.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert Image.open(BytesIO(b"".join(response.streaming_content))).size == (800, 600)

    # Not served from MEDIA_URL, to anyone.
    assert client.get(f"/media/{photo.image.name}").status_code == 404

    client.force_login(UserFactory(username="colega"))
    assert client.get(f"/campo/fotos/{photo.pk}/").status_code == 404

    coordinator.alcaldias.clear()  # a coordinator of other alcaldías
    client.force_login(coordinator)
    assert client.get(f"/campo/fotos/{photo.pk}/").status_code == 404
    coordinator.alcaldias.add(visit.application.dwelling.colonia.alcaldia)
    assert client.get(f"/campo/fotos/{photo.pk}/").status_code == 200

    client.logout()
    response = client.get(f"/campo/fotos/{photo.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/entrar/?next=")


def test_a_file_that_is_not_a_picture_is_refused_next_to_the_photos_field(client, technician, media_root):
    visit = scheduled_visit(technician)
    client.force_login(technician)

    response = client.post(
        f"/campo/visitas/{visit.pk}/",
        {
            "visited_on": timezone.localdate().isoformat(),
            "outcome": "viable",
            "photos": [SimpleUploadedFile("notas.jpg", b"not a picture", content_type="image/jpeg")],
        },
    )

    assert response.status_code == 400
    assert "notas.jpg" in response.context["form"].errors["photos"][0]
    visit.refresh_from_db()
    assert visit.outcome is None
    assert not FieldPhoto.objects.exists()
    assert not media_root.exists()


# --- Installation --------------------------------------------------------------------------------------------
def installation_data(organisation, **overrides):
    data = {
        "installed_on": timezone.localdate().isoformat(),
        "installer": organisation.pk,
        "tank_capacity_litres": "2500",
        "funding_source": "sedema",
        "component_tinaco": "on",
        "size_tinaco": "2500",
        "component_tlaloque": "on",
        "size_tlaloque": "210",
        "component_canaleta": "on",
        "size_canaleta": "6.5",
        "training_given": "on",
        **GPS,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_an_installation_is_recorded_with_its_components_and_leaves_the_worklist(client, technician):
    application = scheduled_installation(technician)
    installer = InstallerFactory()
    client.force_login(technician)

    response = client.post(f"/campo/solicitudes/{application.pk}/instalacion/", installation_data(installer), follow=True)

    assert response.redirect_chain == [("/campo/", 302)]
    installation = Installation.objects.get(application=application)
    assert installation.technician == technician
    assert installation.training_on == installation.installed_on == timezone.localdate()
    parts = {(part.kind, part.size, part.unit) for part in installation.components.all()}
    assert parts == {
        (Component.Kind.ROOF_TANK, Decimal("2500.00"), "L"),
        (Component.Kind.TLALOQUE, Decimal("210.00"), "L"),
        (Component.Kind.GUTTER, Decimal("6.50"), "m"),
    }
    assert Application.objects.get(pk=application.pk).status == Status.INSTALLED
    assert ("installation", application.pk) not in [(task.kind, task.id) for task in response.context["work"].items]
    assert (installation.gps_latitude, installation.gps_longitude, installation.gps_accuracy_m) == (
        Decimal("19.296012"),
        Decimal("-99.034046"),
        Decimal("8.5"),
    )


def test_a_checked_component_without_its_size_is_an_error_next_to_it(client, technician):
    application = scheduled_installation(technician)
    installer = InstallerFactory()
    client.force_login(technician)

    response = client.post(f"/campo/solicitudes/{application.pk}/instalacion/", installation_data(installer, size_tinaco=""))

    assert response.status_code == 400
    assert response.context["form"].errors["size_tinaco"] == ["Indique la medida del componente instalado."]
    assert not Installation.objects.filter(application=application).exists()


def test_an_installation_without_installer_or_tank_shows_both_errors(client, technician):
    application = scheduled_installation(technician)
    installer = InstallerFactory()
    client.force_login(technician)

    response = client.post(
        f"/campo/solicitudes/{application.pk}/instalacion/",
        installation_data(installer, installer="", tank_capacity_litres="0"),
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) >= {"installer", "tank_capacity_litres"}
    assert not Installation.objects.filter(application=application).exists()
    assert Application.objects.get(pk=application.pk).status == Status.INSTALLATION_SCHEDULED


def test_training_before_the_installation_is_refused_by_the_model_rules(client, technician):
    application = scheduled_installation(technician)
    installer = InstallerFactory()
    client.force_login(technician)
    before = (timezone.localdate() - timedelta(days=3)).isoformat()

    response = client.post(f"/campo/solicitudes/{application.pk}/instalacion/", installation_data(installer, training_on=before))

    assert response.status_code == 400
    assert response.context["form"].errors["training_on"]
    assert not Installation.objects.filter(application=application).exists()


def test_a_request_not_scheduled_for_installation_has_no_form(client, technician):
    application = scheduled_installation(technician)
    Application.objects.filter(pk=application.pk).update(status=Status.VIABLE)
    client.force_login(technician)

    assert client.get(f"/campo/solicitudes/{application.pk}/instalacion/").status_code == 404


# --- Maintenance -------------------------------------------------------------------------------------------
def test_a_maintenance_visit_is_recorded_and_the_system_leaves_the_worklist(client, technician):
    system = system_due(technician)
    client.force_login(technician)
    today = timezone.localdate()

    page = client.get(f"/campo/sistemas/{system.pk}/mantenimiento/")
    assert page.status_code == 200
    response = client.post(
        f"/campo/sistemas/{system.pk}/mantenimiento/",
        {
            "visited_on": today.isoformat(),
            "kind": "pre_season",
            "roof_cleaned": "on",
            "tlaloque_purged": "on",
            "findings": "Filtro de hojas con sedimento.",
            "next_due_on": (today + timedelta(days=182)).isoformat(),
            **GPS,
        },
        follow=True,
    )

    assert response.redirect_chain == [("/campo/", 302)]
    visit = MaintenanceVisit.objects.get(installation=system)
    assert visit.roof_cleaned and visit.tlaloque_purged and not visit.tank_cleaned
    assert visit.technician == technician
    assert visit.findings == "Filtro de hojas con sedimento."
    assert (visit.gps_latitude, visit.gps_accuracy_m) == (Decimal("19.296012"), Decimal("8.5"))
    assert system.pk not in [task.id for task in response.context["work"].items if task.kind == "maintenance"]


def test_a_next_date_before_the_visit_is_refused_next_to_the_field(client, technician):
    system = system_due(technician)
    client.force_login(technician)
    today = timezone.localdate()

    response = client.post(
        f"/campo/sistemas/{system.pk}/mantenimiento/",
        {"visited_on": today.isoformat(), "kind": "repair", "next_due_on": (today - timedelta(days=1)).isoformat()},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["next_due_on"]
    assert not MaintenanceVisit.objects.filter(installation=system).exists()


def test_the_forms_label_every_visible_field(client, technician):
    visit = scheduled_visit(technician)
    application = scheduled_installation(technician)
    system = system_due(technician)
    client.force_login(technician)

    for path in (
        f"/campo/visitas/{visit.pk}/",
        f"/campo/solicitudes/{application.pk}/instalacion/",
        f"/campo/sistemas/{system.pk}/mantenimiento/",
    ):
        response = client.get(path)
        form = response.context["form"]
        page = response.content.decode()
        for field in form.visible_fields():
            if getattr(field.field.widget, "input_type", "") == "radio":
                continue
            assert f'for="{field.id_for_label}"' in page, (path, field.name)
        assert 'capture="environment"' in page
        assert 'accept="image/*"' in page
        assert f'data-max-side="{PHOTO_MAX_SIDE_PX}"' in page


def test_asking_for_the_date_order_turns_off_locating_on_arrival(client, technician):
    scheduled_visit(technician)
    client.force_login(technician)

    assert 'data-auto="1"' in client.get("/campo/").content.decode()
    assert 'data-auto="0"' in client.get("/campo/", {"orden": "fecha"}).content.decode()
