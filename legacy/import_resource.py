"""The legacy row as a django-import-export resource: one sheet row ↔ a request, its household, dwelling and system.

``LegacyRowResource`` documents the sheet's columns for django-import-export and imports a sheet
on its default row-by-row engine: for each row the instance loader looks the request up by its
legacy folio (``import_id_fields``, backed by ``Application.legacy_folio`` and its unique
constraint, reliability.md C6), the row is checked, and the records are saved one by one through
``Model.save``, each after ``full_clean`` (fields, ``clean()`` and check constraints), each with its
own audit row (written by ``audit.receivers`` on ``save``). The whole sheet is one transaction,
rolled back when any row is refused (``rollback_on_validation_errors`` defaults to true here, C5).

The checks are the fast path's, not a copy of them: ``legacy.reading.clean_row`` reads and checks
the cells (``legacy.normalise``), the reading side's ``_Repeats`` finds rows repeated within the
sheet, and ``legacy.services.row_database_errors`` asks the database what ``import_rows`` asks it.
So a row refused by one is refused by the other, with the same Spanish message on the same column.
What is stored is the same too: an ACTIVE request of the LEGACY channel with a status change, the
person (by CURP; one whose request was made in Harvest keeps Harvest's data), the dwelling and the
system; a row equal to what is stored is skipped, a changed one updates only what changed
(``update_with_history``, as the fast path).

It is slow by construction: a few dozen queries per row, some 200 s for the office's 62,700 rows
(``benchmarks/legacy_import.py`` times it on 5,000). Large sheets go through
``legacy.services.import_file``; this resource is the reference the fast path is measured against,
and what an admin import screen would use for a small sheet.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import F
from django.utils import timezone
from import_export import fields, resources, widgets

from audit.services import update_with_history
from installations.identifiers import folio_generate, verification_code_generate, verification_code_hash
from installations.lifecycle import Status
from installations.models import (
    Applicant,
    Application,
    ApplicationChannel,
    Dwelling,
    DwellingWaterSupply,
    Installation,
    InstallerOrganisation,
    StatusChange,
)
from legacy import normalise
from legacy.reading import Lookups, _Repeats, clean_row, map_headers
from legacy.rows import COLUMNS, CleanRow, RowError
from legacy.services import (
    IMPORT_NOTE,
    UNKNOWN_INSTALLER,
    applicant_values,
    differences,
    dwelling_values,
    noon_in_mexico_city,
    row_database_errors,
)

# The sheet's column → where its value lives, for the resource's fields (export and diff).
ATTRIBUTES = {
    "folio_legado": "legacy_folio",
    "anio_programa": "program_year_id",
    "nombre": "applicant__first_name",
    "primer_apellido": "applicant__first_surname",
    "segundo_apellido": "applicant__second_surname",
    "curp": "applicant__curp",
    "sexo": "applicant__sex",
    "jefa_de_hogar": "applicant__woman_headed_household",
    "telefono": "applicant__phone",
    "calle_numero": "dwelling__street_address",
    "colonia": "dwelling__colonia__name",
    "alcaldia": "dwelling__colonia__alcaldia__name",
    "codigo_postal": "dwelling__postal_code",
    "latitud": "dwelling__latitude",
    "longitud": "dwelling__longitude",
    "material_techo": "dwelling__roof_material",
    "superficie_techo_m2": "dwelling__roof_area_m2",
    "capacidad_tanque_l": "installation__tank_capacity_litres",
    "fecha_instalacion": "installation__installed_on",
    "instaladora": "installation__installer__name",
    "modalidad": "modality",
}


def cell_text(value: Any) -> str:
    """A cell as the reading side gives it: text, dates day first, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class LegacyFolioWidget(widgets.CharWidget):
    """The legacy folio as the fast path reads it (spaces collapsed); an unreadable one matches nothing."""

    def clean(self, value: Any, row: dict[str, Any] | None = None, **kwargs: Any) -> str:
        try:
            return normalise.text(cell_text(value))
        except normalise.Invalid:
            return ""  # clean_row refuses the row with its reason


def _field(column: str) -> fields.Field:
    widget = LegacyFolioWidget() if column == "folio_legado" else None
    return fields.Field(attribute=ATTRIBUTES[column], column_name=column, widget=widget, readonly=column != "folio_legado")


def _as_validation_error(errors: list[RowError]) -> ValidationError:
    by_column: dict[str, list[str]] = {}
    for error in errors:
        by_column.setdefault(error.column or NON_FIELD_ERRORS, []).append(str(error.message))
    return ValidationError(by_column)


class LegacyRowResource(resources.ModelResource):
    """One row of the office's sheet: the request (matched on its legacy folio) and what hangs from it."""

    legacy_folio = _field("folio_legado")
    program_year = _field("anio_programa")
    first_name = _field("nombre")
    first_surname = _field("primer_apellido")
    second_surname = _field("segundo_apellido")
    curp = _field("curp")
    sex = _field("sexo")
    woman_headed_household = _field("jefa_de_hogar")
    phone = _field("telefono")
    street_address = _field("calle_numero")
    colonia = _field("colonia")
    alcaldia = _field("alcaldia")
    postal_code = _field("codigo_postal")
    latitude = _field("latitud")
    longitude = _field("longitud")
    roof_material = _field("material_techo")
    roof_area_m2 = _field("superficie_techo_m2")
    tank_capacity_litres = _field("capacidad_tanque_l")
    installed_on = _field("fecha_instalacion")
    installer_name = _field("instaladora")
    modality = _field("modalidad")

    class Meta:
        model = Application
        import_id_fields = ("legacy_folio",)
        fields = (
            "legacy_folio",
            "program_year",
            "first_name",
            "first_surname",
            "second_surname",
            "curp",
            "sex",
            "woman_headed_household",
            "phone",
            "street_address",
            "colonia",
            "alcaldia",
            "postal_code",
            "latitude",
            "longitude",
            "roof_material",
            "roof_area_m2",
            "tank_capacity_litres",
            "installed_on",
            "installer_name",
            "modality",
        )
        export_order = fields
        use_transactions = True

    def __init__(self, *, by: Any = None, lookups: Lookups | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.by = by
        self.lookups = lookups
        self.repeats: _Repeats | None = None

    def import_data(
        self,
        dataset: Any,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = True,  # all or nothing (reliability.md C5)
        **kwargs: Any,
    ) -> Any:
        """django-import-export's ``import_data``; one refused row rolls back every row (C5)."""
        return super().import_data(
            dataset, dry_run, raise_errors, use_transactions, collect_failed_rows, rollback_on_validation_errors, **kwargs
        )

    def get_queryset(self) -> Any:
        return Application.objects.filter(legacy_folio__isnull=False)

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Headers matched to the contract's columns as the fast path matches them; the reference data read once."""
        header_map = map_headers([cell_text(header) for header in dataset.headers or []])
        if header_map.errors:
            raise _as_validation_error(header_map.errors)
        names = {position: name for name, position in header_map.positions.items()}
        dataset.headers = [names.get(position, header) for position, header in enumerate(dataset.headers)]
        self.lookups = self.lookups or Lookups.load()
        self.repeats = _Repeats(self.lookups)

    def import_instance(self, instance: Application, row: dict[str, Any], **kwargs: Any) -> None:
        """Check the row as the fast path does; remember it for ``save_instance`` (the fields are set there)."""
        assert self.lookups is not None and self.repeats is not None  # set by before_import
        line = kwargs["row_number"] + 1  # the header is the sheet's row 1
        raw = {name: cell_text(row.get(name)) for name, _required, _description in COLUMNS}
        cleaned = clean_row(line, raw, self.lookups)
        if isinstance(cleaned, list):
            raise _as_validation_error(cleaned)
        repeated = self.repeats.errors(line, vars(cleaned))
        if repeated:
            raise _as_validation_error(repeated)
        refused = row_database_errors(cleaned)
        if refused:
            raise _as_validation_error(refused)
        # Carried on the instance from here to save_instance (the engine passes nothing else along).
        instance._legacy_row = cleaned  # type: ignore[attr-defined]
        instance._legacy_unchanged = instance.pk is not None and not self._changes(instance, cleaned)  # type: ignore[attr-defined]

    def skip_row(self, instance: Application, original: Any, row: Any, import_validation_errors: Any = None) -> bool:
        """A row equal to what is stored changes nothing (and is reported as skipped)."""
        return not import_validation_errors and getattr(instance, "_legacy_unchanged", False)

    def validate_instance(
        self, instance: Application, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        if import_validation_errors:
            raise ValidationError(import_validation_errors)
        # The model rules are checked record by record in save_instance, where the records exist.

    def do_instance_save(self, instance: Application, is_create: bool) -> None:
        row: CleanRow = instance._legacy_row  # type: ignore[attr-defined]
        if is_create:
            self._create(instance, row)
        else:
            self._update(instance, row)

    # --- Writing one row ---------------------------------------------------------------------------
    def _applicant(self, row: CleanRow) -> Applicant:
        applicant = Applicant.objects.filter(curp=row.curp).first()
        if applicant is None:
            applicant = Applicant(curp=row.curp, **applicant_values(row))
            _save_new(applicant)
            return applicant
        harvest_owns = applicant.applications.exclude(channel=ApplicationChannel.LEGACY).exists()
        changed = differences(_stored(applicant, applicant_values(row)), applicant_values(row))
        if changed and not harvest_owns:
            _update(applicant, changed)
        return applicant

    def _installer(self, row: CleanRow) -> InstallerOrganisation:
        name = row.installer_name.strip() or UNKNOWN_INSTALLER
        key = name.casefold()
        for installer in InstallerOrganisation.objects.filter(name__iexact=name):
            if installer.name.casefold() == key:
                return installer
        installer = InstallerOrganisation(name=name)
        _save_new(installer)
        return installer

    def _create(self, application: Application, row: CleanRow) -> None:
        applicant = self._applicant(row)
        dwelling = Dwelling(**dwelling_values(row), water_supply=DwellingWaterSupply.UNKNOWN)
        _save_new(dwelling)
        folio = folio_generate()
        while Application.objects.filter(folio=folio).exists():
            folio = folio_generate()
        installed_at = noon_in_mexico_city(row.installed_on)
        application.folio = folio
        application.legacy_folio = row.legacy_folio
        application.verification_code_hash = verification_code_hash(verification_code_generate())  # told to nobody
        application.applicant = applicant
        application.dwelling = dwelling
        application.program_year_id = row.program_year
        application.modality = row.modality
        application.channel = ApplicationChannel.LEGACY
        application.privacy_consent_at = installed_at
        application.status = Status.ACTIVE
        application.status_changed_at = installed_at
        _save_new(application)
        StatusChange.objects.create(
            application=application, to_status=Status.ACTIVE, changed_by=self.by, changed_at=installed_at, note=IMPORT_NOTE
        )
        self._new_installation(application, dwelling, row)

    def _new_installation(self, application: Application, dwelling: Dwelling, row: CleanRow) -> None:
        installation = Installation(
            application=application,
            dwelling=dwelling,
            installed_on=row.installed_on,
            tank_capacity_litres=row.tank_capacity_litres,
            installer=self._installer(row),
        )
        _save_new(installation)

    def _update(self, application: Application, row: CleanRow) -> None:
        applicant = self._applicant(row)
        changed = differences(
            _stored(application, _application_values(applicant.pk, row)), _application_values(applicant.pk, row)
        )
        if changed:
            _update(application, changed, versioned=True)
        dwelling = Dwelling.objects.get(pk=application.dwelling_id)
        changed = differences(_stored(dwelling, dwelling_values(row)), dwelling_values(row))
        if changed:
            _update(dwelling, changed)
        installation = Installation.objects.filter(application=application).first()
        if installation is None:
            self._new_installation(application, dwelling, row)
            return
        wanted = _installation_values(self._installer(row).pk, row)
        changed = differences(_stored(installation, wanted), wanted)
        if changed:
            _update(installation, changed, versioned=True)

    def _changes(self, application: Application, row: CleanRow) -> bool:
        """Whether storing the row would change any of the request's records."""
        applicant = Applicant.objects.filter(curp=row.curp).first()
        if applicant is None:
            return True
        harvest_owns = applicant.applications.exclude(channel=ApplicationChannel.LEGACY).exists()
        if not harvest_owns and differences(_stored(applicant, applicant_values(row)), applicant_values(row)):
            return True
        if differences(_stored(application, _application_values(applicant.pk, row)), _application_values(applicant.pk, row)):
            return True
        dwelling = Dwelling.objects.get(pk=application.dwelling_id)
        if differences(_stored(dwelling, dwelling_values(row)), dwelling_values(row)):
            return True
        installation = Installation.objects.select_related("installer").filter(application=application).first()
        if installation is None:
            return True
        installer_name = (row.installer_name.strip() or UNKNOWN_INSTALLER).casefold()
        if installation.installer.name.casefold() != installer_name:
            return True
        wanted = {"installed_on": row.installed_on, "tank_capacity_litres": row.tank_capacity_litres}
        return bool(differences(_stored(installation, wanted), wanted))


def _application_values(applicant_id: int, row: CleanRow) -> dict[str, Any]:
    return {
        "applicant_id": applicant_id,
        "program_year_id": row.program_year,
        "modality": row.modality,
        "privacy_consent_at": noon_in_mexico_city(row.installed_on),
    }


def _installation_values(installer_id: int, row: CleanRow) -> dict[str, Any]:
    return {"installed_on": row.installed_on, "tank_capacity_litres": row.tank_capacity_litres, "installer_id": installer_id}


def _stored(instance: Any, wanted: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in wanted}


def _model_rules(instance: Any) -> None:
    """The model's own checks: fields, ``clean()`` and check constraints (uniqueness is the database's)."""
    # What legacy sheets never recorded (occupants, the technician) stays NULL, as the columns allow for them.
    exclude = [f.name for f in instance._meta.concrete_fields if f.null and getattr(instance, f.attname) is None]
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=True)


def _save_new(instance: Any) -> None:
    """Save a new record after the model's own checks (``Model.save`` writes its audit row, audit.receivers)."""
    _model_rules(instance)
    instance.save(force_insert=True)


def _update(instance: Any, changed: dict[str, Any], *, versioned: bool = False) -> None:
    """Write what changed, with the old and new values in the audit trail (as the fast path writes them)."""
    for name, value in changed.items():
        setattr(instance, name, value)
    _model_rules(instance)
    extra: dict[str, Any] = {"updated_at": timezone.now()}
    if versioned:
        extra["version"] = F("version") + 1
    update_with_history(type(instance)._base_manager.filter(pk=instance.pk), note=IMPORT_NOTE, **changed, **extra)
