"""Every write to the program's records goes through a function here.

Each locks what it changes, validates, writes and raises domain errors (never HTTP ones). The
lifecycle has exactly one writer, ``application_transition``; the record-keeping services call it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from PIL import Image

from audit.services import bulk_create_with_history, update_with_history
from installations.exceptions import DuplicateCaptureError, EligibilityError, LazyText, StaleVersionError, TransitionError
from installations.identifiers import folio_generate, verification_code_generate, verification_code_hash
from installations.lifecycle import TRANSITIONS, Status, missing_evidence
from installations.models import (
    Applicant,
    Application,
    Component,
    Dwelling,
    EligibleColonia,
    FieldPhoto,
    Installation,
    InstallerOrganisation,
    MaintenanceVisit,
    Payment,
    ProgramYear,
    StatusChange,
    TechnicalVisit,
    User,
)

# Phones may run a few minutes fast; anything later than this is refused as a future capture.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)


def _offline_fields(*, client_uuid: uuid.UUID | None, recorded_at: datetime | None) -> dict[str, Any]:
    """The device's id and clock for a record captured in the field, plus our own receipt time."""
    received_at = timezone.now()
    if recorded_at is not None and recorded_at > received_at + CLOCK_SKEW_ALLOWANCE:
        raise ValidationError({"recorded_at": _("La fecha de captura está en el futuro; revise el reloj del teléfono.")})
    return {"client_uuid": client_uuid, "recorded_at": recorded_at, "received_at": received_at}


# --- The lifecycle ------------------------------------------------------------------------------------
@transaction.atomic
def application_transition(
    *, application: Application, to: str, by: User | None, note: str = "", at: datetime | None = None
) -> Application:
    """Move a request to ``to`` if the transition table allows it and its evidence is recorded."""
    if to not in Status.values:
        raise ValidationError({"to": ValidationError(_("«%(value)s» no es un estado del proceso."), params={"value": to})})
    # Lock first so two people acting on one request at once are applied one after the other.
    locked = Application.objects.select_for_update(no_key=True).get(pk=application.pk)
    current = locked.status
    if to not in TRANSITIONS.get(current, {}):
        raise TransitionError(current=current, wanted=to)
    missing = missing_evidence(locked, to)
    if missing:
        raise TransitionError(current=current, wanted=to, missing=missing)
    changed_at = at or timezone.now()
    if to == Status.REMOVED:
        working = Installation.objects.filter(application=locked, removed_on=None)
        removed_on = timezone.localdate(changed_at)
        # Never before the installation itself (the constraint says so; a system recorded with a
        # later date than today's must not make its removal fail).
        for installed_on in working.values_list("installed_on", flat=True):
            removed_on = max(removed_on, installed_on)
        update_with_history(working, note=f"{current} → {to}", removed_on=removed_on)
    locked.status = to
    locked.status_changed_at = changed_at
    locked.version += 1
    locked.save(update_fields=["status", "status_changed_at", "version", "updated_at"])
    StatusChange.objects.create(
        application=locked, from_status=current, to_status=to, changed_by=by, changed_at=changed_at, note=note
    )
    application.status = locked.status
    application.status_changed_at = locked.status_changed_at
    application.version = locked.version
    return locked


# --- Registration -------------------------------------------------------------------------------------
def _clean(instance: Any, *, exclude: Iterable[str] = ()) -> None:
    # Check constraints too, so that what the database would refuse is a ValidationError, not an IntegrityError.
    instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=True)


@transaction.atomic
def application_register(
    *,
    program_year: ProgramYear,
    applicant: Mapping[str, Any],
    dwelling: Mapping[str, Any],
    channel: str,
    privacy_consent_at: datetime | None,
    by: User | None = None,
    rng: random.Random | None = None,
    client_uuid: uuid.UUID | None = None,
    recorded_at: datetime | None = None,
) -> tuple[Application, str]:
    """Register a household's request; returns it with its verification code, shown only this once.

    Refuses (with the field at fault) a request without the privacy-notice consent, from a colonia
    that is not in the year's list, or from a CURP that already has an open request this year.
    """
    if privacy_consent_at is None:
        raise EligibilityError(_("Debe aceptar el aviso de privacidad para registrarse."), field="privacy_consent")
    offline = _offline_fields(client_uuid=client_uuid, recorded_at=recorded_at)
    if client_uuid is not None and Application.objects.filter(client_uuid=client_uuid).exists():
        raise DuplicateCaptureError()
    curp = str(applicant.get("curp", "")).strip().upper()
    submitted = Applicant(**{**applicant, "curp": curp})
    # Lock the person's row (when there is one) so two registrations for one CURP queue up.
    person = Applicant.objects.select_for_update(no_key=True).filter(curp=curp).first()
    _clean(submitted, exclude=["curp"] if person else [])
    if person is None:
        person = submitted
    elif by is not None:
        # Staff registering in the field may correct the person's data; an anonymous caller who
        # knows a CURP may not overwrite someone else's name or phone.
        for name, value in applicant.items():
            setattr(person, name, value)
        _clean(person, exclude=["curp"])
    home = Dwelling(**dwelling)
    _clean(home)

    eligibility = EligibleColonia.objects.filter(program_year=program_year, colonia=home.colonia).only("modality").first()
    if eligibility is None:
        raise EligibilityError(
            LazyText(
                _("La colonia %(colonia)s no participa en el programa %(year)s."),
                colonia=home.colonia.name,
                year=program_year.year,
            ),
            field="colonia",
        )
    if person.pk and Application.objects.open().filter(applicant=person, program_year=program_year).exists():
        raise EligibilityError(
            LazyText(_("Ya existe una solicitud abierta con esta CURP en el programa %(year)s."), year=program_year.year),
            field="curp",
        )
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError:  # the same new CURP registered by a parallel request a moment ago
        raise EligibilityError(
            _("Se está registrando otra solicitud con esta CURP; intente de nuevo en un momento."), field="curp"
        ) from None
    home.save()

    code = verification_code_generate(rng)
    folio = folio_generate(rng)
    while Application.objects.filter(folio=folio).exists():  # 54 bits: a clash is a curiosity, not a plan
        folio = folio_generate(rng)
    now = timezone.now()
    application = Application(
        folio=folio,
        verification_code_hash=verification_code_hash(code),
        applicant=person,
        dwelling=home,
        program_year=program_year,
        modality=eligibility.modality,
        channel=channel,
        privacy_consent_at=privacy_consent_at,
        status=Status.REGISTERED,
        status_changed_at=now,
        **offline,
    )
    _clean(application, exclude=["applicant", "dwelling", "program_year"])
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError:
        if client_uuid is not None and Application.objects.filter(client_uuid=client_uuid).exists():
            raise  # the same capture sent twice: the caller reports it as a conflict
        # Otherwise it is the database's one-open-request-per-CURP-and-year rule.
        raise EligibilityError(
            LazyText(_("Ya existe una solicitud abierta con esta CURP en el programa %(year)s."), year=program_year.year),
            field="curp",
        ) from None
    StatusChange.objects.create(application=application, to_status=Status.REGISTERED, changed_by=by, changed_at=now)
    return application, code


# --- Technical visit ----------------------------------------------------------------------------------
@transaction.atomic
def technical_visit_schedule(
    *,
    application: Application,
    technician: User,
    scheduled_on: date,
    by: User | None,
    client_uuid: uuid.UUID | None = None,
    recorded_at: datetime | None = None,
) -> TechnicalVisit:
    """Plan the technical visit, assign the technician and mark the request as visit scheduled."""
    if technician.role != User.Role.TECHNICIAN:
        raise ValidationError({"technician": _("La persona asignada debe tener el rol de técnica/o.")})
    offline = _offline_fields(client_uuid=client_uuid, recorded_at=recorded_at)
    # The planned visit is the evidence the step needs, so it is written first; a step the table
    # refuses rolls it back with the transaction.
    visit = TechnicalVisit(application=application, technician=technician, scheduled_on=scheduled_on, **offline)
    _clean(visit, exclude=["application", "technician"])
    visit.save()
    application_transition(application=application, to=Status.VISIT_SCHEDULED, by=by)
    update_with_history(Application.objects.filter(pk=application.pk), assigned_technician=technician)
    application.assigned_technician = technician
    return visit


@transaction.atomic
def technical_visit_record(
    *,
    visit: TechnicalVisit,
    visited_on: date,
    outcome: str,
    measured_roof_area_m2: Decimal | None = None,
    measured_roof_material: str = "",
    required_adjustments: str = "",
    notes: str = "",
    by: User | None,
    gps_latitude: Decimal | None = None,
    gps_longitude: Decimal | None = None,
    gps_accuracy_m: Decimal | None = None,
) -> TechnicalVisit:
    """Record what the technician found and move the request to the outcome's state.

    The phone's GPS reading (latitude, longitude, accuracy in metres) is optional: all three or none.
    """
    visit = TechnicalVisit.objects.select_for_update().get(pk=visit.pk)
    if visit.outcome is not None:
        raise ValidationError({"outcome": _("Esta visita ya tiene un resultado registrado.")})
    if outcome == TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS and not required_adjustments.strip():
        raise ValidationError({"required_adjustments": _("Indique qué adecuaciones necesita la vivienda.")})
    if visited_on > timezone.localdate():
        raise ValidationError({"visited_on": _("La fecha de la visita no puede estar en el futuro.")})
    visit.visited_on = visited_on
    visit.outcome = outcome
    visit.measured_roof_area_m2 = measured_roof_area_m2
    visit.measured_roof_material = measured_roof_material
    visit.required_adjustments = required_adjustments
    visit.notes = notes
    visit.gps_latitude, visit.gps_longitude, visit.gps_accuracy_m = gps_latitude, gps_longitude, gps_accuracy_m
    visit.version += 1
    _clean(visit, exclude=["application", "technician"])
    visit.save()
    application = visit.application
    application_transition(application=application, to=Status.VISIT_DONE, by=by)
    next_status = {
        TechnicalVisit.Outcome.VIABLE: Status.VIABLE,
        TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS: Status.ADJUSTMENTS_PENDING,
        TechnicalVisit.Outcome.NOT_VIABLE: Status.NOT_VIABLE,
    }[TechnicalVisit.Outcome(outcome)]
    application_transition(application=application, to=next_status, by=by)
    return visit


@transaction.atomic
def technical_visit_verify_adjustments(*, visit: TechnicalVisit, verified_on: date, by: User | None) -> TechnicalVisit:
    """Confirm the household made the adjustments the visit asked for; the request becomes viable."""
    visit = TechnicalVisit.objects.select_for_update().get(pk=visit.pk)
    if visit.outcome != TechnicalVisit.Outcome.VIABLE_WITH_ADJUSTMENTS:
        raise ValidationError({"adjustments_verified_on": _("Esta visita no pidió adecuaciones.")})
    visit.adjustments_verified_on = verified_on
    visit.version += 1
    _clean(visit, exclude=["application", "technician"])
    visit.save(update_fields=["adjustments_verified_on", "version", "updated_at"])
    application_transition(application=visit.application, to=Status.VIABLE, by=by)
    return visit


# --- Payment (partial subsidy) ------------------------------------------------------------------------
@transaction.atomic
def payment_record(
    *, application: Application, amount_mxn: Decimal, method: str, paid_on: date, agreement_reference: str = "", by: User | None
) -> Payment:
    """Record the household's 50 % payment and mark the request as paid."""
    payment = Payment(
        application=application, amount_mxn=amount_mxn, method=method, paid_on=paid_on, agreement_reference=agreement_reference
    )
    _clean(payment, exclude=["application"])
    if Payment.objects.filter(application=application).exists():
        raise ValidationError({"application": _("Esta solicitud ya tiene un pago registrado.")})
    payment.save()
    application_transition(application=application, to=Status.PAID, by=by)
    return payment


# --- Installation ---------------------------------------------------------------------------------------
@transaction.atomic
def installation_record(
    *,
    application: Application,
    technician: User,
    installer: InstallerOrganisation,
    installed_on: date,
    tank_capacity_litres: int = 2500,
    components: Iterable[Mapping[str, Any]] = (),
    funding_source: str = Installation.FundingSource.SEDEMA,
    unit_cost_mxn: Decimal | None = None,
    training_on: date | None = None,
    by: User | None,
    client_uuid: uuid.UUID | None = None,
    recorded_at: datetime | None = None,
    gps_latitude: Decimal | None = None,
    gps_longitude: Decimal | None = None,
    gps_accuracy_m: Decimal | None = None,
) -> Installation:
    """Record the installed system and its components; the request becomes installed.

    The phone's GPS reading (latitude, longitude, accuracy in metres) is optional: all three or none.
    """
    if installed_on > timezone.localdate():
        raise ValidationError({"installed_on": _("La fecha de instalación no puede estar en el futuro.")})
    if Installation.objects.filter(application=application).exists():
        raise ValidationError({"application": _("Esta solicitud ya tiene una instalación registrada.")})
    if Installation.objects.filter(dwelling_id=application.dwelling_id, removed_on=None).exists():
        raise ValidationError({"dwelling": _("La vivienda ya tiene un sistema en funcionamiento.")})
    installation = Installation(
        application=application,
        dwelling_id=application.dwelling_id,
        technician=technician,
        installer=installer,
        installed_on=installed_on,
        tank_capacity_litres=tank_capacity_litres,
        funding_source=funding_source,
        unit_cost_mxn=unit_cost_mxn,
        training_on=training_on,
        gps_latitude=gps_latitude,
        gps_longitude=gps_longitude,
        gps_accuracy_m=gps_accuracy_m,
        **_offline_fields(client_uuid=client_uuid, recorded_at=recorded_at),
    )
    _clean(installation, exclude=["application", "dwelling", "technician", "installer"])
    installation.save()
    parts = [Component(installation=installation, **component) for component in components]
    for index, part in enumerate(parts):
        try:
            _clean(part, exclude=["installation"])
        except ValidationError as error:
            raise ValidationError({f"components[{index}]": error.messages}) from error
    bulk_create_with_history(parts)
    # Application.installation is cached as missing on the instance; reload so the rule sees the row.
    fresh = Application.objects.get(pk=application.pk)
    application_transition(application=fresh, to=Status.INSTALLED, by=by)
    application.status = fresh.status
    return installation


# --- Maintenance ----------------------------------------------------------------------------------------
@transaction.atomic
def maintenance_visit_record(
    *,
    installation: Installation,
    kind: str,
    visited_on: date,
    next_due_on: date,
    technician: User | None = None,
    performed_by: str = MaintenanceVisit.PerformedBy.SEDEMA,
    checklist: Mapping[str, bool] | None = None,
    findings: str = "",
    by: User | None,
    client_uuid: uuid.UUID | None = None,
    recorded_at: datetime | None = None,
    gps_latitude: Decimal | None = None,
    gps_longitude: Decimal | None = None,
    gps_accuracy_m: Decimal | None = None,
) -> MaintenanceVisit:
    """Record a maintenance visit; a system flagged as needing maintenance returns to operation.

    The phone's GPS reading (latitude, longitude, accuracy in metres) is optional: all three or none.
    """
    allowed = {"roof_cleaned", "leaf_filter_cleaned", "tlaloque_purged", "tank_cleaned", "cartridges_replaced", "chlorine_added"}
    unknown = set(checklist or {}) - allowed
    if unknown:
        raise ValidationError(
            {
                "checklist": ValidationError(
                    _("Puntos de revisión desconocidos: %(items)s."), params={"items": ", ".join(sorted(unknown))}
                )
            }
        )
    visit = MaintenanceVisit(
        installation=installation,
        kind=kind,
        visited_on=visited_on,
        next_due_on=next_due_on,
        technician=technician,
        performed_by=performed_by,
        findings=findings,
        gps_latitude=gps_latitude,
        gps_longitude=gps_longitude,
        gps_accuracy_m=gps_accuracy_m,
        **(checklist or {}),
        **_offline_fields(client_uuid=client_uuid, recorded_at=recorded_at),
    )
    _clean(visit, exclude=["installation", "technician"])
    visit.save()
    # Re-read: the caller's copy of the request may be stale; the transition locks it anyway.
    application = Application.objects.get(pk=installation.application_id)
    # A visit made before the system was flagged (a phone syncing late) is kept, but does not
    # clear the flag: only a visit on or after it does.
    if application.status == Status.NEEDS_MAINTENANCE and not missing_evidence(application, Status.ACTIVE):
        application_transition(application=application, to=Status.ACTIVE, by=by, note=str(_("Mantenimiento realizado.")))
    return visit


# --- Field photos ----------------------------------------------------------------------------------------
# What a clean JPEG may carry in Pillow's info: its encoding, nothing about the phone, the place or the person.
_PHOTO_HARMLESS_INFO = frozenset({"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"})


@transaction.atomic
def field_photos_store(
    *, record: TechnicalVisit | Installation | MaintenanceVisit, photos: Sequence[bytes], by: User
) -> list[FieldPhoto]:
    """Keep a field record's photos, each already re-encoded as a JPEG without metadata (web/photos.py).

    A photo that is not a JPEG, or that still carries EXIF, XMP, an ICC profile or a comment, is refused
    with a ValidationError (so a phone's GPS never reaches storage). Call it inside the record's
    transaction, as its last write: if anything here fails, the files written so far are removed again.
    """
    field = {TechnicalVisit: "technical_visit", Installation: "installation", MaintenanceVisit: "maintenance_visit"}.get(
        type(record)
    )
    if field is None:
        raise TypeError(f"photos belong to a technical visit, an installation or a maintenance visit, not {record!r}")
    for index, data in enumerate(photos):
        try:
            with Image.open(BytesIO(data)) as picture:
                clean = picture.format == "JPEG" and not picture.getexif() and set(picture.info) <= _PHOTO_HARMLESS_INFO
        except (OSError, ValueError):
            clean = False
        if not clean:
            raise ValidationError(
                {"photos": ValidationError(_("La foto %(number)s no es un JPEG limpio."), params={"number": index + 1})}
            )
    stored: list[FieldPhoto] = []
    try:
        for data in photos:
            photo = FieldPhoto(**{field: record}, taken_by=by)
            # The name is the model's (field/<kind>/<record id>/<uuid>.jpg); "photo.jpg" only gives the extension.
            # Assigning the file sets width and height (the ImageField's width_field and height_field).
            photo.image.save("photo.jpg", ContentFile(data, name="photo.jpg"), save=False)
            stored.append(photo)
            _clean(photo, exclude=[field, "taken_by", "image"])
            photo.save()
    except BaseException:
        for photo in stored:
            photo.image.delete(save=False)
        raise
    return stored


# --- Edits ------------------------------------------------------------------------------------------------
EDITABLE_FIELDS: dict[type, frozenset[str]] = {
    Application: frozenset({"commitment_letter_on", "assigned_technician"}),
    TechnicalVisit: frozenset(
        {"scheduled_on", "measured_roof_area_m2", "measured_roof_material", "required_adjustments", "notes"}
    ),
    Installation: frozenset({"installer", "tank_capacity_litres", "funding_source", "unit_cost_mxn", "training_on"}),
    MaintenanceVisit: frozenset(
        {
            "kind",
            "performed_by",
            "roof_cleaned",
            "leaf_filter_cleaned",
            "tlaloque_purged",
            "tank_cleaned",
            "cartridges_replaced",
            "chlorine_added",
            "findings",
            "next_due_on",
        }
    ),
}


@transaction.atomic
def record_update[VersionedRecord: (Application, TechnicalVisit, Installation, MaintenanceVisit)](
    *, record: VersionedRecord, expected_version: int, changes: Mapping[str, Any], by: User | None
) -> VersionedRecord:
    """Apply plain edits to a record if it is still at ``expected_version``; the version goes up by one.

    Status, folio, ids and audit fields are never edited here (the lifecycle has its own service);
    a field outside the model's editable set is refused with its name.
    """
    model = type(record)
    allowed = EDITABLE_FIELDS[model]
    refused = sorted(set(changes) - allowed)
    if refused:
        raise ValidationError({name: _("Este campo no se puede modificar.") for name in refused})
    locked = model.objects.select_for_update(no_key=True).get(pk=record.pk)
    if locked.version != expected_version:
        raise StaleVersionError(expected=expected_version, current=locked.version)
    for name, value in changes.items():
        setattr(locked, name, value)
    _clean(locked)
    locked.version += 1
    locked.save(update_fields=[*changes, "version", "updated_at"])
    return locked
