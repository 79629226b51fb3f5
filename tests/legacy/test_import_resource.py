"""The legacy row as a django-import-export resource: the same checks and records as the fast path, row by row."""

from __future__ import annotations

import tablib
from django.core.exceptions import NON_FIELD_ERRORS

from audit.models import AuditAction, AuditEntry
from installations.lifecycle import Status
from installations.models import Applicant, Application, Dwelling, Installation, InstallerOrganisation, StatusChange
from legacy.import_resource import LegacyRowResource
from legacy.reading import validate_file
from legacy.rows import COLUMN_NAMES
from legacy.services import import_file
from tests.factories import ColoniaFactory
from tests.legacy import files

MODELS = (Applicant, Dwelling, Application, Installation, StatusChange, InstallerOrganisation)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def dataset(rows: list[dict[str, str]], header: list[str] | None = None) -> tablib.Dataset:
    header = header or list(COLUMN_NAMES)
    return tablib.Dataset(*files.as_lists(rows, header), headers=header)


def resource_errors(result) -> list[tuple[int, str, str]]:
    """(sheet row, column, message) for every refused row (the header is row 1)."""
    found = []
    for invalid in result.invalid_rows:
        for column, messages in invalid.error_dict.items():
            found.extend((invalid.number + 1, "" if column == NON_FIELD_ERRORS else column, str(m)) for m in messages)
    return sorted(found)


def fast_path_errors(report) -> list[tuple[int, str, str]]:
    return sorted((error.line, error.column, str(error.message)) for error in report.errors)


def test_a_valid_sheet_imports_through_the_resource_with_every_record(db, administrator):
    # given
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    rows = [files.row(1), files.row(2, instaladora=""), files.row(3, telefono="")]
    # when
    result = LegacyRowResource(by=administrator).import_data(dataset(rows))
    # then
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 3
    assert counts() == {
        "Applicant": 3,
        "Dwelling": 3,
        "Application": 3,
        "Installation": 3,
        "StatusChange": 3,
        "InstallerOrganisation": 2,
    }
    application = Application.objects.select_related("applicant", "dwelling", "installation__installer").get(
        legacy_folio="SCALL-2021-00002"
    )
    assert application.channel == Application.Channel.LEGACY and application.status == Status.ACTIVE
    assert application.applicant.first_name == "María Guadalupe" and application.dwelling.street_address == "Calle Tláloc 2"
    assert str(application.dwelling.roof_area_m2) == "40.50" and application.installation.tank_capacity_litres == 2500
    assert application.installation.installer.name == "Sin dato (registro legado)"
    assert application.status_changes.get().changed_by == administrator
    assert AuditEntry.objects.filter(action=AuditAction.CREATE, model_label="installations.application").count() == 3


def test_importing_the_same_sheet_again_changes_nothing_and_a_changed_row_updates_its_records(db):
    # given
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    rows = [files.row(1), files.row(2)]
    LegacyRowResource().import_data(dataset(rows))
    before = counts()
    # when
    again = LegacyRowResource().import_data(dataset(rows))
    changed = LegacyRowResource().import_data(dataset([files.row(1), files.row(2, capacidad_tanque_l="5000")]))
    # then
    assert again.totals["skip"] == 2 and not again.has_validation_errors()
    assert changed.totals["skip"] == 1 and changed.totals["update"] == 1
    assert counts() == before
    assert Installation.objects.get(application__legacy_folio="SCALL-2021-00002").tank_capacity_litres == 5000
    assert AuditEntry.objects.filter(action=AuditAction.BULK_UPDATE, model_label="installations.installation").count() == 1


def test_a_bad_row_is_refused_with_the_fast_paths_reason_and_nothing_is_stored(db, tmp_path):
    # given: a wrong CURP, a colonia not in its alcaldía, and a repeated folio
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    rows = [
        files.row(1),
        files.row(2, curp="HEGM800101MDFRRR0X"),
        files.row(3, colonia="Colonia Inexistente"),
        files.row(4, folio_legado="SCALL-2021-00001"),
    ]
    path = files.write_csv(tmp_path / "padron.csv", rows)
    # when
    result = LegacyRowResource().import_data(dataset(rows))
    report = import_file(path, by=None, dry_run=False)
    # then
    assert resource_errors(result) == fast_path_errors(report)
    assert {line for line, _column, _message in resource_errors(result)} == {3, 4, 5}
    assert counts() == dict.fromkeys(counts(), 0)


def test_a_row_the_database_refuses_gives_the_same_reason_both_ways(db, tmp_path):
    # given: a dwelling already on another record
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    LegacyRowResource().import_data(dataset([files.row(1)]))
    rows = [files.row(2, calle_numero="Calle Tláloc 1")]
    path = files.write_csv(tmp_path / "padron.csv", rows)
    # when
    result = LegacyRowResource().import_data(dataset(rows))
    report = import_file(path, by=None, dry_run=True)
    # then
    assert resource_errors(result) == fast_path_errors(report)
    ((line, column, message),) = resource_errors(result)
    assert (line, column) == (2, "calle_numero") and "SCALL-2021-00001" in message


def test_headers_are_matched_as_the_fast_path_matches_them(db, tmp_path):
    # given: headers in another case, with accents and spaces
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    header = [name.upper().replace("_", " ").replace("ANIO", "AÑO") for name in COLUMN_NAMES]
    rows = [files.row(1)]
    path = files.write_csv(tmp_path / "padron.csv", [files.as_lists(rows, list(COLUMN_NAMES))[0]], header=header)
    assert validate_file(path)[1].ok
    # when
    result = LegacyRowResource().import_data(tablib.Dataset(*files.as_lists(rows, list(COLUMN_NAMES)), headers=header))
    # then
    assert result.totals["new"] == 1 and Application.objects.filter(legacy_folio="SCALL-2021-00001").exists()
