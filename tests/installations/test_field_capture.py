"""What a technician's phone adds to a field record: the GPS reading on the record and the photos as FieldPhoto rows.

The services take the reading as three optional values (all or none, inside Mexico City, accuracy above
zero) and the database refuses the same; ``field_photos_store`` keeps only clean JPEGs, in private storage
under ``field/<kind>/<record id>/<uuid>.jpg``, each tied to exactly one record. The worklist selector lists
scheduled installations on request and orders by distance.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import ExifTags, Image

from installations.lifecycle import Status
from installations.models import FieldPhoto, Installation, MaintenanceVisit, TechnicalVisit
from installations.selectors import field_photo_queryset, worklist, worklist_nearest
from installations.services import (
    field_photos_store,
    installation_record,
    maintenance_visit_record,
    technical_visit_record,
)
from tests.factories import (
    ApplicationFactory,
    DwellingFactory,
    InstallationFactory,
    InstallerFactory,
    TechnicalVisitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

READING = {"gps_latitude": Decimal("19.296012"), "gps_longitude": Decimal("-99.034046"), "gps_accuracy_m": Decimal("8.5")}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def planned_visit(technician=None, *, position=(Decimal("19.296000"), Decimal("-99.034000"))) -> TechnicalVisit:
    technician = technician or UserFactory()
    dwelling = DwellingFactory(latitude=position[0], longitude=position[1])
    application = ApplicationFactory(status=Status.VISIT_SCHEDULED, dwelling=dwelling, assigned_technician=technician)
    return TechnicalVisitFactory(
        application=application,
        technician=technician,
        scheduled_on=timezone.localdate(),
        visited_on=None,
        outcome=None,
        measured_roof_area_m2=None,
        measured_roof_material="",
    )


def clean_jpeg(size=(640, 480)) -> bytes:
    output = BytesIO()
    Image.new("RGB", size, (90, 140, 60)).save(output, "JPEG")
    return output.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    output = BytesIO()
    Image.new("RGB", (64, 48)).save(output, "JPEG", exif=exif)
    return output.getvalue()


# --- The GPS reading through the services ------------------------------------------------------------------
def test_a_technical_visit_keeps_the_phone_reading():
    visit = planned_visit()

    technical_visit_record(visit=visit, visited_on=timezone.localdate(), outcome="viable", by=visit.technician, **READING)

    visit.refresh_from_db()
    assert (visit.gps_latitude, visit.gps_longitude, visit.gps_accuracy_m) == tuple(READING.values())


def test_a_technical_visit_without_a_reading_keeps_none():
    visit = planned_visit()

    technical_visit_record(visit=visit, visited_on=timezone.localdate(), outcome="viable", by=visit.technician)

    visit.refresh_from_db()
    assert (visit.gps_latitude, visit.gps_longitude, visit.gps_accuracy_m) == (None, None, None)


@pytest.mark.parametrize(
    ("reading", "field", "message"),
    [
        ({**READING, "gps_accuracy_m": None}, "gps_accuracy_m", "juntas, o ninguna"),
        ({"gps_latitude": READING["gps_latitude"]}, "gps_longitude", "juntas, o ninguna"),
        ({**READING, "gps_accuracy_m": Decimal("0")}, "gps_accuracy_m", "mayor que cero"),
        ({**READING, "gps_latitude": Decimal("20.670000")}, "gps_latitude", "fuera de la Ciudad de México"),
        ({**READING, "gps_longitude": Decimal("-103.350000")}, "gps_longitude", "fuera de la Ciudad de México"),
    ],
)
def test_a_bad_reading_is_refused_by_the_service_and_nothing_changes(reading, field, message):
    visit = planned_visit()

    with pytest.raises(ValidationError) as caught:
        technical_visit_record(visit=visit, visited_on=timezone.localdate(), outcome="viable", by=visit.technician, **reading)

    assert message in " ".join(caught.value.message_dict[field])
    visit.refresh_from_db()
    assert visit.outcome is None
    assert visit.application.status == Status.VISIT_SCHEDULED


def test_an_installation_and_a_maintenance_visit_keep_the_phone_reading():
    technician = UserFactory()
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED, assigned_technician=technician)
    TechnicalVisitFactory(application=application, technician=technician)

    installation = installation_record(
        application=application,
        technician=technician,
        installer=InstallerFactory(),
        installed_on=timezone.localdate(),
        by=technician,
        **READING,
    )
    visit = maintenance_visit_record(
        installation=installation,
        kind=MaintenanceVisit.Kind.REPAIR,
        visited_on=timezone.localdate(),
        next_due_on=timezone.localdate() + timedelta(days=182),
        technician=technician,
        by=technician,
        **{**READING, "gps_accuracy_m": Decimal("35")},
    )

    installation.refresh_from_db()
    visit.refresh_from_db()
    assert installation.gps_accuracy_m == Decimal("8.5")
    assert installation.gps_latitude == READING["gps_latitude"]
    assert visit.gps_accuracy_m == Decimal("35.0")
    assert visit.gps_longitude == READING["gps_longitude"]


def test_a_half_reading_on_an_installation_is_refused_and_nothing_is_stored():
    technician = UserFactory()
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED, assigned_technician=technician)
    TechnicalVisitFactory(application=application, technician=technician)

    with pytest.raises(ValidationError) as caught:
        installation_record(
            application=application,
            technician=technician,
            installer=InstallerFactory(),
            installed_on=timezone.localdate(),
            by=technician,
            gps_latitude=READING["gps_latitude"],
            gps_longitude=READING["gps_longitude"],
        )

    assert "gps_accuracy_m" in caught.value.message_dict
    assert not Installation.objects.filter(application=application).exists()


# --- What the database refuses on its own (the cases are in test_constraints.py) ------------------
def _a_photo_row(**records) -> FieldPhoto:
    return FieldPhoto(image="field/x.jpg", width=10, height=10, taken_by=UserFactory(), **records)


def test_a_photo_of_no_record_is_refused_by_the_database():
    with pytest.raises(IntegrityError, match="fieldphoto_exactly_one_record"), transaction.atomic():
        _a_photo_row().save()


def test_a_complete_reading_and_no_reading_are_stored():
    visit = TechnicalVisitFactory(**READING)
    other = TechnicalVisitFactory()

    assert TechnicalVisit.objects.get(pk=visit.pk).gps_accuracy_m == Decimal("8.5")
    assert TechnicalVisit.objects.get(pk=other.pk).gps_latitude is None


# --- Photos ------------------------------------------------------------------------------------------------
def test_photos_are_stored_as_rows_with_server_made_names(media_root):
    installation = InstallationFactory()
    technician = installation.technician

    photos = field_photos_store(record=installation, photos=[clean_jpeg(), clean_jpeg((300, 400))], by=technician)

    assert [photo.pk for photo in FieldPhoto.objects.all()] == [photo.pk for photo in photos]  # default ordering: as taken
    first, second = photos
    assert first.installation == installation and first.technical_visit is None and first.maintenance_visit is None
    assert first.taken_by == technician
    assert first.record == installation and first.record_kind == "installation"
    assert (first.width, first.height, second.width, second.height) == (640, 480, 300, 400)
    for photo in photos:
        assert re.fullmatch(rf"field/installation/{installation.pk}/[0-9a-f]{{32}}\.jpg", photo.image.name)
        assert Path(photo.image.path).is_relative_to(media_root)
        assert Path(photo.image.path).read_bytes()[:2] == b"\xff\xd8"
    assert first.image.name != second.image.name
    assert list(installation.photos.all()) == photos


@pytest.mark.parametrize(
    "bad",
    [jpeg_with_gps(), b"not a picture"],
    ids=["jpeg-with-exif", "not-a-picture"],
)
def test_a_photo_that_is_not_a_clean_jpeg_is_refused_and_nothing_is_stored(bad, media_root):
    visit = TechnicalVisitFactory()

    with pytest.raises(ValidationError) as caught:
        field_photos_store(record=visit, photos=[clean_jpeg(), bad], by=visit.technician)

    assert caught.value.message_dict["photos"] == ["La foto 2 no es un JPEG limpio."]
    assert not FieldPhoto.objects.exists()
    assert not media_root.exists() or not any(path.is_file() for path in media_root.rglob("*"))


def test_a_png_is_not_stored_as_it_came():
    output = BytesIO()
    Image.new("RGB", (20, 20)).save(output, "PNG")
    visit = TechnicalVisitFactory()

    with pytest.raises(ValidationError):
        field_photos_store(record=visit, photos=[output.getvalue()], by=visit.technician)


def test_photos_belong_to_field_records_only():
    with pytest.raises(TypeError):
        field_photos_store(record=ApplicationFactory(), photos=[clean_jpeg()], by=UserFactory())  # type: ignore[arg-type]


def test_a_failed_row_removes_the_files_already_written(media_root, monkeypatch):
    visit = TechnicalVisitFactory()
    saves = []

    def failing_save(self, *args, **kwargs):
        saves.append(self)
        if len(saves) == 2:
            raise OSError("disk full")
        return original_save(self, *args, **kwargs)

    original_save = FieldPhoto.save
    monkeypatch.setattr(FieldPhoto, "save", failing_save)

    with pytest.raises(OSError, match="disk full"):
        field_photos_store(record=visit, photos=[clean_jpeg(), clean_jpeg()], by=visit.technician)

    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_photos_are_visible_to_whoever_may_see_their_record(coordinator, administrator):
    technician = UserFactory()
    visit = planned_visit(technician)
    photo = field_photos_store(record=visit, photos=[clean_jpeg()], by=technician)[0]
    alcaldia = visit.application.dwelling.colonia.alcaldia_id

    assert list(field_photo_queryset(user=technician)) == [photo]
    assert list(field_photo_queryset(user=UserFactory())) == []
    assert list(field_photo_queryset(user=administrator)) == [photo]
    assert (photo in field_photo_queryset(user=coordinator)) == coordinator.alcaldias.filter(pk=alcaldia).exists()


# --- The worklist: installations on request, nearest first ---------------------------------------------------
def test_the_worklist_lists_scheduled_installations_only_when_asked():
    technician = UserFactory()
    visit = planned_visit(technician)
    application = ApplicationFactory(
        status=Status.INSTALLATION_SCHEDULED, status_changed_at=timezone.now(), assigned_technician=technician
    )
    ApplicationFactory(status=Status.INSTALLATION_SCHEDULED, status_changed_at=timezone.now())  # someone else's

    plain = worklist(user=technician)
    full = worklist(user=technician, include_installations=True)

    assert [(item.kind, item.id) for item in plain.items] == [("technical_visit", visit.pk)]
    assert {(item.kind, item.id) for item in full.items} == {("technical_visit", visit.pk), ("installation", application.pk)}
    installing = next(item for item in full.items if item.kind == "installation")
    assert installing.due_on == timezone.localdate() and not installing.overdue
    assert installing.folio_display == application.folio_display


def test_an_installed_request_leaves_the_worklist():
    technician = UserFactory()
    application = ApplicationFactory(status=Status.INSTALLATION_SCHEDULED, assigned_technician=technician)
    InstallationFactory(application=application, technician=technician)

    assert worklist(user=technician, include_installations=True).items == []


def test_the_nearest_worklist_orders_by_distance_and_keeps_homes_without_a_position_last():
    technician = UserFactory()
    far = planned_visit(technician, position=(Decimal("19.296000"), Decimal("-99.034000")))
    near = planned_visit(technician, position=(Decimal("19.258000"), Decimal("-99.014000")))
    nowhere = planned_visit(technician, position=(None, None))

    work = worklist_nearest(user=technician, origin=(19.259, -99.015))

    assert work.by_distance
    assert [item.id for item in work.items] == [near.pk, far.pk, nowhere.pk]
    assert work.items[0].distance_km < 0.2 < 4 < work.items[1].distance_km < 5
    assert work.items[2].distance_km is None
    assert not worklist_nearest(user=technician, origin=None).by_distance
