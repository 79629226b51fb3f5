"""Exports: formula escaping, masking, blocked households, the padrón's allowlist, the log and the admin screens."""

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from installations.identifiers import folio_display
from installations.lifecycle import Status
from installations.models import Application, Installation, Modality, ProgramYear, User
from legacy.exports import (
    ADDRESS_COLUMNS,
    PADRON_COLUMNS,
    age_on,
    escape_cell,
    export_build,
    export_rows,
    mask_phone,
    padron_rows,
    write_csv,
    write_xlsx,
)
from legacy.models import ExportLog, ExportLogError
from legacy.rows import COLUMN_NAMES, DANGEROUS_FIRST_CHARACTERS, unescape_cell
from tests.factories import ApplicationFactory, InstallationFactory, UserFactory

MASKED_COLUMNS = [
    "folio_legado",
    "anio_programa",
    "nombre",
    "primer_apellido",
    "segundo_apellido",
    "curp",
    "sexo",
    "jefa_de_hogar",
    "telefono",
    "colonia",
    "alcaldia",
    "codigo_postal",
    "material_techo",
    "superficie_techo_m2",
    "capacidad_tanque_l",
    "fecha_instalacion",
    "instaladora",
    "modalidad",
]
FOREIGN_ALCALDIA = "09012"  # Tlalpan: the coordinator fixture covers 09009 and 09007 only
# XML 1.0 cannot carry these in an XLSX cell at all; the writer replaces them (tested apart).
XML_TEXT = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs",),
        exclude_characters=[chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]],
    )
)


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> list[list[object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def rows_of(queryset, **kwargs) -> tuple[list[str], list[list[object]]]:
    columns, rows = export_rows(queryset, **kwargs)
    return columns, list(rows)


# --- Formula injection (D1) ------------------------------------------------------------------------------------
@given(st.text())
@example("=SUM(1+1)")
@example("+52 55 1234 5678")
@example("-99.1")
@example("@cmd")
@example("\tx")
@example("\rx")
@example("\0x")
@example("'=already quoted")
@example("''")
@example("")
def test_an_escaped_cell_never_starts_a_formula_and_unescapes_to_the_original(text):
    escaped = escape_cell(text)

    assert escaped[:1] not in DANGEROUS_FIRST_CHARACTERS
    assert unescape_cell(escaped) == text


@given(st.text().filter(lambda text: text[:1] not in {*DANGEROUS_FIRST_CHARACTERS, "'"}))
def test_a_harmless_cell_is_left_as_it_is(text):
    assert escape_cell(text) == text


@given(st.lists(st.lists(st.text(), min_size=3, max_size=3), max_size=5))
@settings(max_examples=200)
def test_every_csv_cell_is_escaped_and_reads_back_exactly(rows):
    stream = io.BytesIO()

    write_csv(["a", "b", "c"], rows, stream)

    header, *cells = read_csv(stream.getvalue())
    assert header == ["a", "b", "c"]
    assert len(cells) == len(rows)
    for written, row in zip(cells, rows, strict=True):
        assert all(cell[:1] not in DANGEROUS_FIRST_CHARACTERS for cell in written)
        assert [unescape_cell(cell) for cell in written] == row


@given(st.lists(st.lists(XML_TEXT, min_size=2, max_size=2), min_size=1, max_size=3))
@settings(max_examples=60, deadline=None)
def test_every_xlsx_text_cell_is_escaped_and_reads_back_exactly(rows):
    stream = io.BytesIO()

    write_xlsx(["a", "b"], rows, stream)

    header, *cells = read_xlsx(stream.getvalue())
    assert header == ["a", "b"]
    for written, row in zip(cells, rows, strict=True):
        texts = ["" if cell is None else cell for cell in written] + [""] * (len(row) - len(written))
        assert all(text[:1] not in DANGEROUS_FIRST_CHARACTERS for text in texts)
        assert [unescape_cell(text) for text in texts] == row


def test_an_xlsx_cell_with_characters_xml_cannot_hold_gets_replacement_characters():
    stream = io.BytesIO()

    write_xlsx(["a"], [["=1\x00\x07+2"]], stream)

    assert read_xlsx(stream.getvalue())[1] == ["'=1\N{REPLACEMENT CHARACTER}\N{REPLACEMENT CHARACTER}+2"]


def test_xlsx_keeps_numbers_as_numbers_and_text_that_looks_numeric_as_text():
    stream = io.BytesIO()

    write_xlsx(["n", "d", "cp", "lon", "day"], [[2500, Decimal("40.50"), "01000", Decimal("-99.1"), date(2023, 5, 1)]], stream)

    assert read_xlsx(stream.getvalue())[1] == [2500, 40.5, "01000", -99.1, "2023-05-01"]


def test_csv_writes_a_negative_number_escaped_as_text():
    stream = io.BytesIO()

    write_csv(["lon"], [[Decimal("-99.123400")]], stream)

    assert read_csv(stream.getvalue())[1] == ["'-99.123400"]


# --- Masking (D2) -------------------------------------------------------------------------------------------------
@given(st.text(alphabet="0123456789 -+()", max_size=20))
def test_a_masked_phone_shows_at_most_its_last_four_digits(phone):
    digits = [character for character in phone if character.isdigit()]

    masked = mask_phone(phone)

    shown = [character for character in masked if character != "*"]
    assert len(shown) <= 4
    assert shown == (digits[-4:] if len(digits) > 4 else [])
    assert len(masked) == len(digits)


@pytest.fixture
def household(db) -> Installation:
    """A working system in one of the coordinator's alcaldías, with every personal field filled."""
    return InstallationFactory(
        application__legacy_folio="LEG-2019-0001",
        application__applicant__first_name="Juana",
        application__applicant__phone="5512345678",
        application__dwelling__street_address="Calle Tláloc 12",
        application__dwelling__colonia__alcaldia_id="09007",
    )


def test_a_masked_export_shows_curp_and_phone_partly_and_no_address(household):
    applicant, dwelling = household.application.applicant, household.dwelling

    columns, [row] = rows_of(Installation.objects.all(), kind="installations", full_personal_data=False)

    assert columns == MASKED_COLUMNS
    cells = dict(zip(columns, row, strict=True))
    assert cells["curp"] == applicant.curp[:4] + "*" * 12 + applicant.curp[-2:]
    assert cells["telefono"] == "******5678"
    assert dwelling.street_address not in row
    assert not set(ADDRESS_COLUMNS) & set(columns)


def test_a_full_export_has_every_legacy_column_in_order(household):
    applicant, dwelling = household.application.applicant, household.dwelling

    columns, [row] = rows_of(Installation.objects.all(), kind="installations", full_personal_data=True)

    assert columns == COLUMN_NAMES
    assert dict(zip(columns, row, strict=True)) == {
        "folio_legado": "LEG-2019-0001",
        "anio_programa": 2023,
        "nombre": "Juana",
        "primer_apellido": "Hernández",
        "segundo_apellido": "López",
        "curp": applicant.curp,
        "sexo": "M",
        "jefa_de_hogar": "Sí",
        "telefono": "5512345678",
        "calle_numero": "Calle Tláloc 12",
        "colonia": dwelling.colonia.name,
        "alcaldia": "Iztapalapa",
        "codigo_postal": "12000",
        "latitud": Decimal("19.191000"),
        "longitud": Decimal("-99.023000"),
        "material_techo": "concreto",
        "superficie_techo_m2": Decimal("40.00"),
        "capacidad_tanque_l": 2500,
        "fecha_instalacion": date(2023, 5, 1),
        "instaladora": "Instaladora de prueba",
        "modalidad": "total",
    }


def test_a_request_without_a_system_has_empty_installation_cells(db):
    application = ApplicationFactory(modality=Modality.PARTIAL_SUBSIDY)

    columns, [row] = rows_of(Application.objects.all(), kind="applications", full_personal_data=False)

    cells = dict(zip(columns, row, strict=True))
    assert cells["folio_legado"] == folio_display(application.folio)
    assert (cells["capacidad_tanque_l"], cells["fecha_instalacion"], cells["instaladora"]) == (None, None, "")
    assert cells["modalidad"] == "parcial"


def test_an_export_reads_its_rows_in_one_query_whatever_their_number(db, django_assert_num_queries):
    InstallationFactory.create_batch(5)

    with django_assert_num_queries(1):
        rows_of(Installation.objects.all(), kind="installations", full_personal_data=True)


def test_an_export_refuses_a_queryset_of_another_model(db):
    with pytest.raises(ValueError, match="installations"):
        export_rows(Application.objects.all(), kind="installations", full_personal_data=False)


# --- Blocked households (G10) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["installations", "applications"])
@pytest.mark.parametrize("full_personal_data", [False, True])
def test_blocked_households_are_left_out_of_every_export(db, kind, full_personal_data):
    kept = InstallationFactory()
    InstallationFactory(application__applicant__blocked_at=timezone.now())
    model = Installation if kind == "installations" else Application

    _columns, rows = rows_of(model.objects.all(), kind=kind, full_personal_data=full_personal_data)

    assert [row[0] for row in rows] == [folio_display(kept.application.folio)]


# --- The padrón (H4) ---------------------------------------------------------------------------------------------------
def test_the_padron_carries_only_the_published_fields(db):
    system = InstallationFactory(
        application__applicant__first_name="Rosa",
        application__applicant__birth_date=date(1980, 12, 31),
        application__modality=Modality.PARTIAL_SUBSIDY,
        application__dwelling__colonia__alcaldia_id="09007",
    )
    colonia = system.dwelling.colonia.name

    columns, rows = padron_rows(today=date(2024, 12, 30))

    assert columns == PADRON_COLUMNS == ["nombre", "alcaldia", "colonia", "sexo", "edad", "beneficio"]
    assert list(rows) == [
        ["Rosa Hernández López", "Iztapalapa", colonia, "Mujer", 43, "Sistema de captación de agua de lluvia — subsidio parcial"]
    ]


def test_the_padron_file_holds_no_curp_phone_address_or_coordinates(db, administrator):
    system = InstallationFactory(application__applicant__phone="5587654321")
    applicant, dwelling = system.application.applicant, system.dwelling

    export = export_build(user=administrator, kind="padron", file_format="csv")

    data = export.file.read().decode("utf-8-sig")
    for secret in (applicant.curp, applicant.curp[:4], "5587654321", "4321", dwelling.street_address, "19.191", "99.023"):
        assert secret not in data
    assert export.log.full_personal_data is False


def test_the_padron_lists_installed_systems_only_and_leaves_out_blocked_households(db):
    InstallationFactory(application__applicant__first_name="Instalada")
    InstallationFactory(application__applicant__first_name="Bloqueada", application__applicant__blocked_at=timezone.now())
    ApplicationFactory(applicant__first_name="Solicitante", status=Status.VIABLE)

    _columns, rows = padron_rows()

    assert [row[0].split()[0] for row in rows] == ["Instalada"]


def test_the_padron_of_one_year(db):
    InstallationFactory(application__applicant__first_name="Veintitres")
    InstallationFactory(
        application__applicant__first_name="Diecinueve", application__program_year=ProgramYear.objects.get(year=2019)
    )

    assert [row[0].split()[0] for row in padron_rows(2023)[1]] == ["Veintitres"]
    assert [row[0].split()[0] for row in padron_rows(2019)[1]] == ["Diecinueve"]
    assert len(list(padron_rows()[1])) == 2


def test_the_padron_of_a_coordinator_covers_her_alcaldias(db, coordinator):
    InstallationFactory(application__applicant__first_name="Propia", application__dwelling__colonia__alcaldia_id="09007")
    InstallationFactory(application__applicant__first_name="Ajena", application__dwelling__colonia__alcaldia_id=FOREIGN_ALCALDIA)

    assert [row[0].split()[0] for row in padron_rows(user=coordinator)[1]] == ["Propia"]


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(1980, 5, 1), date(2024, 4, 30), 43),
        (date(1980, 5, 1), date(2024, 5, 1), 44),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
    ],
)
def test_age_counts_whole_years(birth, day, age):
    assert age_on(birth, day) == age


# --- The log (D3) -------------------------------------------------------------------------------------------------------
def test_an_export_writes_exactly_one_log_row_with_what_it_delivered(household, coordinator):
    InstallationFactory(application__dwelling__colonia__alcaldia_id=FOREIGN_ALCALDIA)
    before = timezone.now()

    export = export_build(
        user=coordinator,
        kind="installations",
        file_format="xlsx",
        queryset=Installation.objects.visible_to(coordinator),
        filters={"alcaldia": "09007"},
    )

    log = ExportLog.objects.get()
    assert export.log == log
    assert (log.user, log.role, log.kind, log.format, log.channel) == (coordinator, "coordinator", "installations", "xlsx", "api")
    assert (log.row_count, log.columns, log.filters) == (1, MASKED_COLUMNS, {"alcaldia": "09007"})
    assert (log.full_personal_data, log.justification) == (False, "")
    assert log.occurred_at >= before and log.occurred_at.utcoffset().total_seconds() == 0
    assert len(read_xlsx(export.file.read())) == 1 + log.row_count


def test_full_personal_data_needs_the_permission_and_a_justification(household, coordinator):
    with pytest.raises(PermissionError):
        export_build(
            user=coordinator,
            kind="installations",
            file_format="csv",
            queryset=Installation.objects.all(),
            full_personal_data=True,
            justification="Entrega a la auditoría externa",
        )
    coordinator.user_permissions.add(Permission.objects.get(codename="export_full_pii"))
    coordinator = User.objects.get(pk=coordinator.pk)  # permissions are cached per instance
    with pytest.raises(PermissionError):
        export_build(
            user=coordinator,
            kind="installations",
            file_format="csv",
            queryset=Installation.objects.all(),
            full_personal_data=True,
            justification="corto",
        )
    assert not ExportLog.objects.exists()

    export_build(
        user=coordinator,
        kind="installations",
        file_format="csv",
        queryset=Installation.objects.all(),
        full_personal_data=True,
        justification="  Entrega a la auditoría externa  ",
    )

    log = ExportLog.objects.get()
    assert (log.full_personal_data, log.justification, log.columns) == (True, "Entrega a la auditoría externa", COLUMN_NAMES)


def test_the_log_is_append_only(household, administrator):
    log = export_build(user=administrator, kind="padron", file_format="csv").log

    log.row_count = 0
    with pytest.raises(ExportLogError):
        log.save()
    with pytest.raises(ExportLogError):
        log.delete()
    with pytest.raises(ExportLogError):
        ExportLog.objects.filter(pk=log.pk).update(row_count=0)
    with pytest.raises(ExportLogError):
        ExportLog.objects.all().delete()
    assert ExportLog.objects.get().row_count == 1


def test_the_log_admin_is_read_only_and_for_administrators(db, administrator, coordinator, rf):
    # given: the log's admin, on a site of its own (registering on the project's site after its URLs
    # were built would break every admin page of this test process)
    registered = admin.site.is_registered(ExportLog)
    from legacy.admin_exports import ExportLogAdmin

    if not registered:
        admin.site.unregister(ExportLog)
    model_admin = ExportLogAdmin(ExportLog, AdminSite())
    request = rf.get("/")
    # then
    request.user = administrator
    assert model_admin.has_view_permission(request)
    assert not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request))
    assert not model_admin.has_delete_permission(request)
    request.user = coordinator
    assert not model_admin.has_view_permission(request)


# --- The admin's export screens -------------------------------------------------------------------------------------------


def export_url(model) -> str:
    return reverse(f"admin:installations_{model._meta.model_name}_export")


def changelist_url(model) -> str:
    return reverse(f"admin:installations_{model._meta.model_name}_changelist")


def selectable_fields(resource: str, columns: list[str]) -> dict[str, str]:
    return {f"{resource.lower()}_{column}": "on" for column in columns}


def test_the_admin_export_action_exports_the_selected_systems_for_an_administrator(client, administrator):
    # given: two systems, one selected
    chosen, _other = InstallationFactory.create_batch(2)
    client.force_login(administrator)
    # when: the action is chosen on the changelist, then the form it shows is sent
    form_page = client.post(changelist_url(Installation), {"action": "export_admin_action", "_selected_action": [chosen.pk]})
    assert form_page.status_code == 200
    assert form_page.context["form"].initial["export_items"] == [chosen.pk]
    response = client.post(
        export_url(Installation),
        {
            "format": "0",
            "resource": "0",
            "export_items": [chosen.pk],
            **selectable_fields("InstallationExportResource", MASKED_COLUMNS),
        },
    )
    # then: a CSV of that one system, masked, logged once
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="instalaciones-')
    assert "no-store" in response["Cache-Control"]
    header, *rows = read_csv(response.content)
    assert header == MASKED_COLUMNS
    assert [row[0] for row in rows] == [folio_display(chosen.application.folio)]
    log = ExportLog.objects.get()
    assert (log.channel, log.kind, log.format, log.row_count, log.columns) == ("admin", "installations", "csv", 1, MASKED_COLUMNS)
    assert log.filters == {"seleccion": 1}


def test_the_admin_offers_csv_and_xlsx_only(client, administrator):
    client.force_login(administrator)

    response = client.get(export_url(Application))

    assert response.status_code == 200
    assert [label for _value, label in response.context["form"].fields["format"].choices if _value] == ["csv", "xlsx"]


def test_a_coordinator_exports_her_alcaldias_masked_from_the_admin(client, coordinator):
    own = ApplicationFactory(dwelling__colonia__alcaldia_id="09007")
    ApplicationFactory(dwelling__colonia__alcaldia_id=FOREIGN_ALCALDIA)
    client.force_login(coordinator)
    form_page = client.get(export_url(Application))
    # only the masked resource is offered to her
    assert form_page.context["form"].fields["resource"].choices == [
        (0, form_page.context["form"].resources[0].get_display_name())
    ]

    response = client.post(
        export_url(Application),
        {"format": "1", "resource": "0", **selectable_fields("ApplicationExportResource", MASKED_COLUMNS)},
    )

    assert response.status_code == 200
    header, *rows = read_xlsx(response.content)
    assert header == MASKED_COLUMNS
    assert [row[0] for row in rows] == [folio_display(own.folio)]
    assert rows[0][header.index("curp")].count("*") == 12
    assert ExportLog.objects.get().format == "xlsx"


def test_a_coordinator_cannot_pick_the_full_resource_in_the_admin(client, coordinator):
    ApplicationFactory(dwelling__colonia__alcaldia_id="09007")
    client.force_login(coordinator)

    response = client.post(
        export_url(Application),
        {"format": "0", "resource": "1", **selectable_fields("ApplicationFullExportResource", COLUMN_NAMES)},
    )

    assert response.status_code == 200  # the form again, with its error
    assert "resource" in response.context["form"].errors
    assert not ExportLog.objects.exists()


def test_the_full_admin_export_needs_a_justification(client, administrator):
    system = InstallationFactory()
    client.force_login(administrator)
    data = {"format": "0", "resource": "1", **selectable_fields("InstallationFullExportResource", COLUMN_NAMES)}

    refused = client.post(export_url(Installation), {**data, "justification": "porque"})
    response = client.post(export_url(Installation), {**data, "justification": "Solicitud ARCO de acceso 2024-17"})

    assert "justification" in refused.context["form"].errors
    header, row = read_csv(response.content)
    assert header == COLUMN_NAMES
    assert row[header.index("curp")] == system.application.applicant.curp
    assert row[header.index("longitud")] == "'-99.023000"
    log = ExportLog.objects.get()
    assert (log.full_personal_data, log.justification) == (True, "Solicitud ARCO de acceso 2024-17")


def test_a_technician_marked_as_staff_cannot_export_from_the_admin(db, client):
    technician = UserFactory(role=User.Role.TECHNICIAN, is_staff=True)
    client.force_login(technician)

    assert client.get(export_url(Installation)).status_code == 403


def test_the_request_changelist_still_offers_no_bulk_actions(client, administrator):
    ApplicationFactory()
    client.force_login(administrator)

    response = client.get(changelist_url(Application))

    assert response.context["action_form"] is None


def test_an_admin_export_escapes_formulas(client, administrator):
    InstallationFactory(application__applicant__first_name='=HYPERLINK("http://x")', application__status=Status.ACTIVE)
    client.force_login(administrator)

    response = client.post(
        export_url(Installation),
        {"format": "1", "resource": "0", **selectable_fields("InstallationExportResource", MASKED_COLUMNS)},
    )

    header, row = read_xlsx(response.content)
    assert row[header.index("nombre")] == '\'=HYPERLINK("http://x")'
