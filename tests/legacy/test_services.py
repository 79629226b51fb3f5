"""Storing legacy rows: all or nothing, idempotent on the legacy folio, audited, checked against the database."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from audit.models import AuditEntry
from installations.lifecycle import Status
from installations.models import (
    Applicant,
    Application,
    Dwelling,
    Installation,
    InstallerOrganisation,
    StatusChange,
)
from legacy import services
from legacy.rows import ImportReport, RowError
from legacy.services import (
    UNKNOWN_INSTALLER,
    _JobProgress,
    address_key,
    import_file,
    import_request,
    import_rows,
    stored_upload_path,
)
from tests.factories import ApplicationFactory, ColoniaFactory, DwellingFactory
from tests.legacy import files
from tests.legacy.rows import clean_row, clean_rows
from worker.models import Job, JobKind, JobState, OutboxMessage
from worker.tasks.imports import legacy_import_task

MODELS = (Applicant, Dwelling, Application, Installation, StatusChange, InstallerOrganisation)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def run(rows, *, dry_run=False, by=None, report=None, progress=None) -> ImportReport:
    return import_rows(rows, report or ImportReport(dry_run=dry_run), by=by, dry_run=dry_run, progress=progress)


@pytest.fixture(autouse=True, params=["one part", "parts of 2 rows"])
def part_rows(request, monkeypatch):
    """Each test runs twice: with the rows written as one part, and a part of 2 rows at a time, as an
    import writes a file while reading it (the outcome must be the same)."""
    if request.param == "parts of 2 rows":
        if request.node.get_closest_marker("one_part") or request.node.get_closest_marker("slow"):
            pytest.skip("counts the queries or the time of one part")
        monkeypatch.setattr("legacy.reading.PART_ROWS", 2)
        monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    return request.param


@pytest.fixture
def colonias(db):
    return [ColoniaFactory(alcaldia_id="09009"), ColoniaFactory(alcaldia_id="09007")]


# --- A first import --------------------------------------------------------------------------------
def test_rows_become_active_legacy_requests_with_their_household_dwelling_and_system(colonias, administrator):
    # given
    rows = clean_rows(6, colonias)
    # when
    report = run(rows, by=administrator)
    # then
    assert report.ok and (report.rows, report.created, report.updated, report.unchanged) == (6, 6, 0, 0)
    application = Application.objects.select_related("applicant", "dwelling", "installation").get(legacy_folio="LEG-000004")
    row = rows[4]
    assert application.channel == Application.Channel.LEGACY
    assert application.status == Status.ACTIVE
    assert len(application.folio) == 12 and application.verification_code_hash
    assert application.program_year_id == row.program_year and application.modality == row.modality
    # consent dated on the installation day at noon, Mexico City (UTC−6)
    assert application.privacy_consent_at == datetime(2023, 6, 5, 18, 0, tzinfo=UTC)
    assert application.status_changed_at == application.privacy_consent_at
    applicant = application.applicant
    assert (applicant.curp, applicant.first_name, applicant.birth_date, applicant.phone) == (
        row.curp,
        "María",
        row.birth_date,
        row.phone,
    )
    dwelling = application.dwelling
    assert dwelling.occupants is None and dwelling.water_supply == Dwelling.WaterSupply.UNKNOWN
    assert (dwelling.street_address, dwelling.colonia_id, dwelling.roof_area_m2) == (
        row.street_address,
        row.colonia_id,
        Decimal("40"),
    )
    installation = application.installation
    assert installation.technician is None and installation.dwelling_id == dwelling.pk
    assert installation.installed_on == row.installed_on and installation.tank_capacity_litres == 2500
    assert installation.funding_source == Installation.FundingSource.SEDEMA
    assert installation.installer.name == "Cooperativa Mujeres del Agua"
    (change,) = application.status_changes.all()
    assert (change.from_status, change.to_status, change.changed_by, change.note) == (
        "",
        Status.ACTIVE,
        administrator,
        "Importado de hoja legada",
    )
    # a row without an installer points at the placeholder organisation
    assert Installation.objects.get(application__legacy_folio="LEG-000002").installer.name == UNKNOWN_INSTALLER
    assert len(set(Application.objects.values_list("folio", flat=True))) == 6


def test_the_inserts_leave_one_bulk_audit_entry_per_model(colonias):
    run(clean_rows(5, colonias))
    entries = AuditEntry.objects.filter(action="bulk_create")
    assert sorted((e.model_label, e.row_count, e.note) for e in entries) == [
        ("installations.applicant", 5, "Importado de hoja legada"),
        ("installations.application", 5, "Importado de hoja legada"),
        ("installations.dwelling", 5, "Importado de hoja legada"),
        ("installations.installation", 5, "Importado de hoja legada"),
    ]


def test_an_existing_applicant_with_the_same_curp_is_reused(colonias):
    # given: a person who also applied through Harvest in 2024
    live = ApplicationFactory(applicant__first_name="Guadalupe", program_year_id=2024)
    row = clean_row(1, colonias[0], curp=live.applicant.curp, program_year=2020, installed_on=date(2020, 5, 4))
    # when
    report = run([row])
    # then: one person, and Harvest's own data about her wins over the sheet's
    assert report.ok and report.created == 1
    assert Applicant.objects.count() == 1
    imported = Application.objects.get(legacy_folio=row.legacy_folio)
    assert imported.applicant_id == live.applicant_id
    assert Applicant.objects.get().first_name == "Guadalupe"


def test_the_same_person_in_two_years_is_one_applicant(colonias):
    curp = clean_row(1, colonias[0]).curp
    rows = [clean_row(1, colonias[0]), clean_row(2, colonias[0], curp=curp, program_year=2022)]
    report = run(rows)
    assert report.ok and report.created == 2
    assert Applicant.objects.count() == 1
    assert Application.objects.filter(applicant__curp=curp).count() == 2


def test_the_last_row_naming_a_person_gives_their_data_even_in_a_later_part(colonias):
    curp = clean_row(1, colonias[0]).curp
    rows = [
        clean_row(1, colonias[0]),
        clean_row(2, colonias[0]),
        clean_row(3, colonias[0]),
        clean_row(4, colonias[0], curp=curp, program_year=2022, first_name="Ana María", phone="5511112222"),
    ]
    report = run(rows)
    assert report.ok and report.created == 4
    applicant = Applicant.objects.get(curp=curp)
    assert (applicant.first_name, applicant.phone) == ("Ana María", "5511112222")
    assert Application.objects.filter(applicant=applicant).count() == 2
    assert run(rows).unchanged == 4


def test_a_new_row_may_take_a_curps_year_that_a_later_row_moves_off_a_stored_record(colonias):
    # given: a stored record under CURP X for 2022, and a sheet whose first row is a new folio for X in
    # 2022 while its last row moves the stored record to another person
    x, y = clean_row(1, colonias[0]).curp, clean_row(50, colonias[0]).curp
    stored = clean_row(9, colonias[1], curp=x, program_year=2022)
    run([stored])
    rows = [clean_row(1, colonias[0], curp=x, program_year=2022), clean_row(2, colonias[0]), replace(stored, curp=y)]
    # when
    report = run(rows)
    # then: as one plan, the stored record moves first, then the new row takes the year
    assert report.ok and (report.created, report.updated) == (2, 1)
    assert Application.objects.get(legacy_folio=stored.legacy_folio).applicant.curp == y
    assert Application.objects.get(legacy_folio=rows[0].legacy_folio).applicant.curp == x


def test_a_file_whose_last_row_is_wrong_stores_nothing_of_the_parts_written_before_it(tlalpan, tmp_path, monkeypatch):
    # given: parts of 2 rows, and the last of 7 rows wrong (its part comes after 3 parts were written)
    monkeypatch.setattr("legacy.reading.PART_ROWS", 2)
    rows = [files.row(n) for n in range(1, 8)]
    rows[-1]["curp"] = "HEML750501MDFRPR0X"
    path = sheet(tmp_path, rows)
    written: list[int] = []
    write = services._Writer.new_rows
    monkeypatch.setattr(services._Writer, "new_rows", lambda self, part: (written.append(len(part)), write(self, part)))
    before = counts()
    # when
    report = import_file(path, by=None, dry_run=False)
    # then: three parts went in while the file was read, and all rolled back with the last row's error
    assert written == [2, 2, 2]
    assert counts() == before and AuditEntry.objects.count() == 0
    assert [(e.line, e.column) for e in report.errors] == [(8, "curp")]
    dry = import_file(path, by=None, dry_run=True).as_dict()
    assert dry.pop("dry_run") and report.as_dict() | {"dry_run": True} == dry | {"dry_run": True}


def test_a_files_progress_counts_written_rows_of_the_files_own_estimate(tlalpan, tmp_path, monkeypatch):
    monkeypatch.setattr("legacy.reading.PART_ROWS", 2)
    path = sheet(tmp_path, [files.row(n) for n in range(1, 8)])
    seen: list[tuple[int, int]] = []
    report = import_file(path, by=None, dry_run=False, progress=lambda done, total: seen.append((done, total)))
    assert report.ok and report.created == 7
    assert seen[0] == (0, 7) and seen[-1] == (7, 7) and len(seen) >= 5
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)


def test_progress_counts_rows_up_to_the_total(colonias):
    seen: list[int] = []
    run(clean_rows(12, colonias), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 12


# --- All or nothing ----------------------------------------------------------------------------------
def test_one_bad_row_from_the_reading_side_writes_nothing_and_keeps_its_error(colonias):
    # given: the reading side refused row 7 and passed the others on
    rows = clean_rows(10, colonias)
    report = ImportReport(dry_run=False, rows=11, errors=[RowError(line=7, column="curp", message="CURP inválida")])
    before = counts()
    # when
    result = run(rows, report=report)
    # then
    assert not result.ok
    assert counts() == before
    assert [e.as_dict() for e in result.errors] == [{"row": 7, "column": "curp", "message": "CURP inválida"}]
    assert (result.created, result.updated, result.unchanged) == (0, 0, 0)
    assert AuditEntry.objects.count() == 0


def test_a_write_the_database_refuses_in_the_last_part_stores_nothing_of_the_earlier_parts(colonias, monkeypatch):
    # given: parts of two rows, and a folio drawn twice for the last part (PostgreSQL sends each part's
    # COPY from a thread of its own while the next part is prepared: the earlier parts are already written)
    monkeypatch.setattr("legacy.reading.PART_ROWS", 2)
    drawn = services._new_folios
    first: list[str] = []

    def folios(count):
        made = drawn(count)
        first.extend(made)
        return made if count == 2 else [first[0]]  # the last part (1 row) repeats the first part's folio

    monkeypatch.setattr(services, "_new_folios", folios)
    before = counts()
    # when
    report = run(clean_rows(7, colonias))
    # then: the unique folio refused the last part, and everything rolled back
    assert not report.ok
    assert [(e.line, e.column) for e in report.errors] == [(0, "")]
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)
    assert counts() == before
    assert AuditEntry.objects.count() == 0
    assert not [thread for thread in threading.enumerate() if thread.name == "legacy-import-copy"]


def test_an_error_while_preparing_a_later_part_stores_nothing_and_is_raised(colonias, monkeypatch):
    monkeypatch.setattr("legacy.reading.PART_ROWS", 2)
    calls = 0
    hashed = services.verification_code_hash

    def failing(code):
        nonlocal calls
        calls += 1
        if calls == 5:  # the third part
            raise RuntimeError("boom")
        return hashed(code)

    monkeypatch.setattr(services, "verification_code_hash", failing)
    before = counts()
    with pytest.raises(RuntimeError, match="boom"):
        run(clean_rows(7, colonias))
    assert counts() == before
    assert not [thread for thread in threading.enumerate() if thread.name == "legacy-import-copy"]


def test_a_refused_real_run_reports_exactly_what_the_dry_run_reports(colonias):
    ApplicationFactory(applicant__curp=clean_row(3, colonias[0]).curp, program_year_id=2022)
    rows = clean_rows(5, colonias)
    dry = run(rows, dry_run=True).as_dict()
    real = run(rows).as_dict()
    assert dry.pop("dry_run") is True and real.pop("dry_run") is False
    assert dry == real
    assert not real["ok"] and real["rejected_rows"] == 1
    assert Application.objects.filter(channel="legado").count() == 0


def test_a_dry_run_writes_nothing_but_counts_what_it_would_do(colonias):
    run(clean_rows(3, colonias))
    rows = [replace(clean_rows(3, colonias)[0], tank_capacity_litres=5000), *clean_rows(5, colonias)[1:]]
    before = counts()
    audit_rows = AuditEntry.objects.count()
    report = run(rows, dry_run=True)
    assert report.ok and (report.created, report.updated, report.unchanged) == (2, 1, 2)
    assert counts() == before and AuditEntry.objects.count() == audit_rows
    assert Installation.objects.get(application__legacy_folio="LEG-000000").tank_capacity_litres == 2500


# --- Re-imports ---------------------------------------------------------------------------------------
def test_importing_the_same_rows_again_changes_nothing(colonias):
    rows = clean_rows(20, colonias)
    run(rows)
    before = counts()
    audit_rows = AuditEntry.objects.count()
    versions = dict(Application.objects.values_list("legacy_folio", "version"))
    report = run(rows)
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 0, 20)
    assert counts() == before
    assert AuditEntry.objects.count() == audit_rows
    assert dict(Application.objects.values_list("legacy_folio", "version")) == versions


def test_a_changed_row_updates_its_records_and_leaves_old_and_new_in_the_audit_trail(colonias):
    # given
    rows = clean_rows(4, colonias)
    run(rows)
    installation = Installation.objects.get(application__legacy_folio="LEG-000001")
    # when: the office corrected a tank size and an address
    rows[1] = replace(rows[1], tank_capacity_litres=5000, street_address="Calle Tláloc 1 bis", roof_area_m2=Decimal("52.5"))
    report = run(rows)
    # then
    assert report.ok and (report.created, report.updated, report.unchanged) == (0, 1, 3)
    installation.refresh_from_db()
    assert installation.tank_capacity_litres == 5000 and installation.version == 2
    (entry,) = AuditEntry.objects.filter(model_label="installations.installation", action="bulk_update")
    assert entry.object_id == str(installation.pk)
    assert entry.changes["tank_capacity_litres"] == {"old": 2500, "new": 5000}
    assert entry.changes["version"] == {"old": 1, "new": 2}
    (entry,) = AuditEntry.objects.filter(model_label="installations.dwelling", action="bulk_update")
    assert entry.changes == {
        "street_address": {"old": "Calle Tláloc 1", "new": "Calle Tláloc 1 bis"},
        "roof_area_m2": {"old": "40.00", "new": "52.50"},
    }
    # and a third run finds nothing to do
    assert run(rows).unchanged == 4


def test_a_changed_name_updates_the_applicant_with_the_personal_data_redacted(colonias):
    rows = clean_rows(2, colonias)
    run(rows)
    rows[0] = replace(rows[0], first_name="María José", phone="5599990000")
    report = run(rows)
    assert (report.updated, report.unchanged) == (1, 1)
    applicant = Applicant.objects.get(curp=rows[0].curp)
    assert (applicant.first_name, applicant.phone) == ("María José", "5599990000")
    (entry,) = AuditEntry.objects.filter(model_label="installations.applicant", action="bulk_update")
    assert entry.changes == {"first_name": {"old": "María", "new": "María José"}, "phone": {"redacted": True}}


def test_a_new_curp_on_a_known_folio_moves_the_request_to_that_person(colonias):
    rows = clean_rows(2, colonias)
    run(rows)
    other = clean_row(99, colonias[0]).curp
    rows[0] = replace(rows[0], curp=other)
    report = run(rows)
    assert report.ok and report.updated == 1
    assert Application.objects.get(legacy_folio="LEG-000000").applicant.curp == other
    assert AuditEntry.objects.filter(model_label="installations.applicant", action="bulk_create", row_count=1).exists()


def test_a_new_installer_name_is_created_once(colonias):
    rows = [clean_row(n, colonias[0], installer_name="Agua de Lluvia S.C.") for n in range(3)]
    run(rows)
    assert InstallerOrganisation.objects.filter(name="Agua de Lluvia S.C.").count() == 1
    rows = [replace(row, installer_name="agua de lluvia s.c.") for row in rows]
    assert run(rows).unchanged == 3  # the same organisation, however it is capitalised


def test_a_new_installer_is_written_as_the_first_row_naming_it_writes_it(colonias):
    spellings = ["Agua de Lluvia S.C.", "AGUA DE LLUVIA S.C.", "agua de lluvia s.c."]
    run([clean_row(n, colonias[0], installer_name=spelling) for n, spelling in enumerate(spellings)])
    assert list(InstallerOrganisation.objects.filter(name__iexact="agua de lluvia s.c.").values_list("name", flat=True)) == [
        "Agua de Lluvia S.C."
    ]


def test_a_more_precise_coordinate_is_stored_rounded_and_then_left_alone(colonias):
    rows = [clean_row(1, colonias[0], latitude=Decimal("19.19123456"), longitude=Decimal("-99.02311119"))]
    run(rows)
    assert Dwelling.objects.get().latitude == Decimal("19.191235")
    assert run(rows).unchanged == 1


# --- Repeats within the file and against the database ------------------------------------------------------
def test_rows_repeating_a_folio_a_curp_in_a_year_or_a_dwelling_are_reported(colonias):
    rows = clean_rows(4, colonias)
    rows.append(replace(clean_row(10, colonias[0]), legacy_folio=rows[0].legacy_folio))
    rows.append(replace(clean_row(11, colonias[0]), curp=rows[1].curp, program_year=rows[1].program_year))
    rows.append(replace(clean_row(12, colonias[0]), street_address="CALLE TLALOC, 2", colonia_id=rows[2].colonia_id))
    report = run(rows)
    assert [(e.line, e.column) for e in report.errors] == [(11, "folio_legado"), (12, "curp"), (13, "calle_numero")]
    assert "fila 1" in report.errors[0].message and "fila 2" in report.errors[1].message
    assert "fila 3" in report.errors[2].message
    assert Application.objects.count() == 0


def test_a_curp_holding_an_open_request_of_that_year_under_another_folio_is_reported(colonias):
    # given: an earlier import holds this CURP in 2021 under folio OTRO-1, and Harvest holds another in 2022
    first = clean_row(1, colonias[0], legacy_folio="OTRO-1", program_year=2021, installed_on=date(2021, 5, 1))
    run([first])
    live = ApplicationFactory(program_year_id=2022)
    rows = [
        clean_row(2, colonias[0], curp=first.curp, program_year=2021, installed_on=date(2021, 7, 1)),
        clean_row(3, colonias[0], curp=live.applicant.curp, program_year=2022, installed_on=date(2022, 7, 1)),
        clean_row(4, colonias[0], curp=live.applicant.curp, program_year=2023, installed_on=date(2023, 7, 1)),
    ]
    # when
    report = run(rows)
    # then
    assert [(e.line, e.column) for e in report.errors] == [(3, "curp"), (4, "curp")]
    assert "OTRO-1" in report.errors[0].message and "2021" in report.errors[0].message
    assert live.folio_display in report.errors[1].message
    assert Application.objects.filter(channel="legado").count() == 1


def test_a_closed_request_of_the_same_year_does_not_block_the_curp(colonias):
    withdrawn = ApplicationFactory(program_year_id=2022, status=Status.WITHDRAWN)
    report = run([clean_row(1, colonias[0], curp=withdrawn.applicant.curp, program_year=2022)])
    assert report.ok and report.created == 1


def test_a_dwelling_already_on_another_record_is_reported(colonias):
    # given: a Harvest request at "Calle Hidalgo No. 12" in the first colonia (keys as the reading side's)
    live = ApplicationFactory(dwelling=DwellingFactory(colonia=colonias[0], street_address="Calle Hidalgo No. 12"))
    rows = [
        clean_row(1, colonias[0], street_address="CALLE HIDALGO NO 12"),
        clean_row(2, colonias[1], street_address="Calle Hidalgo 12"),  # another colonia: another home
    ]
    report = run(rows, dry_run=True)
    assert [(e.line, e.column) for e in report.errors] == [(2, "calle_numero")]
    assert live.folio_display in report.errors[0].message


def test_moving_a_known_folio_onto_another_records_dwelling_is_reported(colonias):
    rows = clean_rows(2, colonias[:1])
    run(rows)
    rows[1] = replace(rows[1], street_address=rows[0].street_address)  # now the same home as row 1
    report = run([rows[1]])
    assert [(e.line, e.column) for e in report.errors] == [(2, "calle_numero")]
    assert "LEG-000000" in report.errors[0].message
    # while moving both, in one file, is the file's business
    rows[0] = replace(rows[0], street_address="Otra calle 5")
    assert run(rows).ok


def test_text_longer_than_the_database_takes_is_reported(colonias):
    report = run([clean_row(1, colonias[0], first_name="M" * 81)])
    assert [(e.line, e.column) for e in report.errors] == [(2, "nombre")]
    assert "81" in report.errors[0].message


def test_the_address_key_ignores_accents_case_punctuation_and_spacing():
    assert address_key(1, "Calle Tláloc No. 12") == address_key(1, "calle  TLALOC no 12") == (1, "calle tlaloc no 12")
    assert address_key(1, "Tláloc 12") != address_key(2, "Tláloc 12")
    assert address_key(1, "Tláloc 12") != address_key(1, "Tláloc 21")


@pytest.mark.one_part
def test_no_query_per_row(colonias, django_assert_max_num_queries):
    rows = clean_rows(300, colonias)
    with django_assert_max_num_queries(40):
        run(rows)
    with django_assert_max_num_queries(20):
        assert run(rows).unchanged == 300


@pytest.mark.slow
def test_the_programs_62700_rows_import_and_reimport_in_seconds(db, administrator):
    # given: the office's whole sheet, over 300 colonias of two alcaldías
    import time

    colonias = [ColoniaFactory(alcaldia_id=("09009", "09007")[n % 2]) for n in range(300)]
    rows = clean_rows(62_700, colonias)
    # when
    started = time.perf_counter()
    report = run(rows, by=administrator)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    again = run(rows, by=administrator)
    reimported = time.perf_counter() - started
    # then
    print(f"\n62,700 rows: insert {inserted:.2f} s, re-import {reimported:.2f} s")
    assert report.ok and report.created == 62_700
    assert again.ok and again.unchanged == 62_700
    assert Application.objects.filter(channel="legado").count() == 62_700
    assert inserted < 60 and reimported < 60  # a bound for a busy CI machine, far above the idle-server figures


# --- Files, uploads and the job ------------------------------------------------------------------------
@pytest.fixture
def imports_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "imports"


@pytest.fixture
def tlalpan(db):
    """The colonia the reading side's sample rows name."""
    return ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")


def sheet(tmp_path, rows, name="hoja.csv"):
    return files.write_csv(tmp_path / name, rows)


def upload_of(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="text/csv")


def test_a_file_is_read_checked_and_stored(tlalpan, tmp_path):
    path = sheet(tmp_path, [files.row(n) for n in range(1, 4)])
    report = import_file(path, by=None, dry_run=False)
    assert report.ok and (report.rows, report.created) == (3, 3)
    assert Application.objects.filter(channel="legado").count() == 3
    again = import_file(path, by=None, dry_run=False)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


def test_a_file_with_a_bad_row_reports_it_as_the_office_numbers_it_and_stores_nothing(tlalpan, tmp_path):
    path = sheet(tmp_path, [files.row(1), files.row(2, curp="HEML750501MDFRPR0X"), files.row(3)])
    seen: list[tuple[int, int]] = []
    report = import_file(path, by=None, dry_run=False, progress=lambda done, total: seen.append((done, total)))
    assert not report.ok
    assert [(e.line, e.column) for e in report.errors] == [(3, "curp")]  # the header is row 1
    assert report.as_dict()["rejected_rows"] == 1 and report.rows == 3
    assert Application.objects.count() == 0
    assert seen[0] == (0, 3) and seen[-1] == (2, 3)  # the two clean rows were checked


def test_an_import_request_stores_the_upload_under_a_server_made_name_and_queues_a_job(imports_dir, tmp_path, coordinator):
    path = sheet(tmp_path, [files.row(1)])
    job = import_request(upload=upload_of(path, "../../etc/padrón 2021.csv"), by=coordinator, dry_run=True)
    assert (job.kind, job.state, job.created_by) == (JobKind.LEGACY_IMPORT, JobState.QUEUED, coordinator)
    assert job.lane.startswith("import-") and len(job.lane) <= 20
    token = job.parameters["file"]
    assert job.parameters == {"file": token, "extension": "csv", "dry_run": True, "name": "padrón 2021.csv"}
    assert [p.name for p in imports_dir.iterdir()] == [f"{uuid.UUID(token).hex}.csv"]
    (message,) = OutboxMessage.objects.all()
    assert (message.task_name, message.args) == ("worker.tasks.imports.legacy_import_task", [str(job.pk)])
    assert message.queue == "imports"


def test_two_imports_at_once_do_not_wait_for_each_other_in_the_queue(imports_dir, tmp_path, coordinator):
    path = sheet(tmp_path, [files.row(1)])
    first = import_request(upload=upload_of(path), by=coordinator, dry_run=True)
    second = import_request(upload=upload_of(path), by=coordinator, dry_run=True)
    assert first.pk != second.pk and first.lane != second.lane


def test_an_upload_that_is_not_a_sheet_is_refused_on_the_field_file_and_leaves_nothing(imports_dir, coordinator):
    upload = SimpleUploadedFile("datos.pdf", b"%PDF-1.7 ...", content_type="application/pdf")
    with pytest.raises(ValidationError) as refused:
        import_request(upload=upload, by=coordinator, dry_run=False)
    assert list(refused.value.message_dict) == ["file"]
    assert ".pdf" in refused.value.message_dict["file"][0]
    assert Job.objects.count() == 0 and not any(imports_dir.iterdir())


def test_the_import_task_runs_the_job_once_however_often_it_is_delivered(imports_dir, tmp_path, tlalpan, coordinator):
    # given
    path = sheet(tmp_path, [files.row(n) for n in range(1, 6)])
    job = import_request(upload=upload_of(path), by=coordinator, dry_run=False)
    stored = stored_upload_path(job.parameters)
    # when: delivered twice
    legacy_import_task(str(job.pk))
    legacy_import_task(str(job.pk))
    # then
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 1
    assert (job.progress_done, job.progress_total) == (5, 5)
    assert job.result["ok"] is True and (job.result["created"], job.result["rows"]) == (5, 5)
    assert Application.objects.filter(channel="legado").count() == 5
    assert StatusChange.objects.filter(changed_by=coordinator).count() == 5
    assert not stored.exists()  # the upload is deleted once its job finished
    # and the audit rows name the job
    assert set(AuditEntry.objects.filter(action="bulk_create").values_list("request_id", flat=True)) == {
        f"legacy-import-{job.pk.hex}"
    }


def test_a_refused_file_ends_its_job_with_the_report_and_stores_nothing(imports_dir, tmp_path, tlalpan, coordinator):
    path = sheet(tmp_path, [files.row(1), files.row(2, capacidad_tanque_l="mucha")])
    job = import_request(upload=upload_of(path), by=coordinator, dry_run=False)
    legacy_import_task(str(job.pk))
    job.refresh_from_db()
    # The job did its work: its result is the refusal (state SUCCEEDED, result.ok false).
    assert job.state == JobState.SUCCEEDED and job.result["ok"] is False
    assert [(e["row"], e["column"]) for e in job.result["errors"]] == [(3, "capacidad_tanque_l")]
    assert (job.progress_done, job.progress_total) == (2, 2)
    assert Application.objects.count() == 0


def test_a_dry_run_job_reports_what_an_import_would_do(imports_dir, tmp_path, tlalpan, coordinator):
    path = sheet(tmp_path, [files.row(n) for n in range(1, 4)])
    job = import_request(upload=upload_of(path), by=coordinator, dry_run=True)
    legacy_import_task(str(job.pk))
    job.refresh_from_db()
    assert job.result["ok"] is True and job.result["dry_run"] is True and job.result["created"] == 3
    assert Application.objects.count() == 0


def test_a_job_whose_file_is_gone_fails_with_a_reason(imports_dir, tmp_path, tlalpan, coordinator):
    job = import_request(upload=upload_of(sheet(tmp_path, [files.row(1)])), by=coordinator, dry_run=False)
    stored_upload_path(job.parameters).unlink()
    legacy_import_task(str(job.pk))
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "súbalo de nuevo" in job.error


def test_an_unexpected_error_fails_the_job_drops_the_file_and_is_raised(imports_dir, tmp_path, tlalpan, coordinator, monkeypatch):
    job = import_request(upload=upload_of(sheet(tmp_path, [files.row(1)])), by=coordinator, dry_run=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("legacy.services._store", broken)
    with pytest.raises(RuntimeError):
        legacy_import_task(str(job.pk))
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "RuntimeError" in job.error
    assert not stored_upload_path(job.parameters).exists()
    assert Application.objects.count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer: progress waits for the commit")
def test_progress_inside_the_imports_transaction_is_visible_at_once(transactional_db):
    # given: a running job
    job = Job.objects.create(kind=JobKind.LEGACY_IMPORT, lane="import-test", state=JobState.RUNNING)
    progress = _JobProgress(job.pk)
    reader = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        # when: the import reports from inside its transaction
        with transaction.atomic():
            progress(0, 10)
            progress(4, 10)
            with reader.cursor() as cursor:
                cursor.execute("SELECT progress_done, progress_total FROM worker_job WHERE id = %s", [job.pk])
                seen = cursor.fetchone()
        # then: another connection saw it before the commit
        assert seen == (4, 10)
    finally:
        progress.close()
        reader.close()


def test_progress_never_goes_backwards_nor_past_the_total(db):
    job = Job.objects.create(kind=JobKind.LEGACY_IMPORT, lane="import-test", state=JobState.RUNNING)
    progress = _JobProgress(job.pk)
    progress(0, 10)
    progress(7, 10)
    progress(3, 10)  # a retried run starts counting again
    progress(12, 10)
    job.refresh_from_db()
    assert (job.progress_done, job.progress_total) == (10, 10)
