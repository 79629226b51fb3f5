"""The reading side of the legacy import: upload checks, CSV and XLSX reading, headers, row checks,
repeats within a file, and what must never happen (unpacking a bomb, following a URL)."""

from __future__ import annotations

import io
import socket
import struct
import tracemalloc
import zipfile
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from legacy import reading
from legacy.reading import (
    LIMITS,
    FileParts,
    FileRejected,
    Lookups,
    UploadLimits,
    check_upload,
    clean_row,
    map_headers,
    read_table,
    validate_file,
)
from legacy.rows import COLUMN_NAMES, CleanRow, ImportReport, RowError
from tests.factories import ColoniaFactory, make_curp
from tests.legacy import files
from tests.legacy.files import Formula, Raw

METADATA_URL = "http://169.254.169.254/latest/meta-data/"


def validate(path, **kwargs):
    return validate_file(path, files.lookups(), **kwargs)


def errors_of(report) -> list[tuple[int, str, str]]:
    return [(error.line, error.column, str(error.message)) for error in report.errors]


def only_error(report) -> tuple[int, str, str]:
    assert len(report.errors) == 1, errors_of(report)
    return errors_of(report)[0]


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a name or open a connection is recorded and fails."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


# --- The upload: extension, size, content ---------------------------------------------------------------
def test_defusedxml_is_installed_so_openpyxl_parses_safely():
    import defusedxml
    from openpyxl.xml import DEFUSEDXML

    assert defusedxml.__version__
    assert DEFUSEDXML is True


@pytest.mark.parametrize("name", ["padron.xls", "padron.ods", "padron.json", "padron.txt", "padron.csv.exe", "padron", ""])
def test_only_csv_and_xlsx_extensions_are_accepted(name):
    [error] = check_upload(name, b"folio_legado\n1\n")

    assert error.line == 0 and error.column == ""
    assert str(error.message).startswith("Solo se aceptan archivos .csv o .xlsx; este es «")


def test_the_extension_is_read_whatever_its_case(tmp_path):
    xlsx = files.write_xlsx(tmp_path / "a.xlsx", [files.row()])

    assert check_upload("PADRÓN 2021.CSV", b"folio_legado\n1\n") == []
    assert check_upload("Padron.XlSx", xlsx) == []


def test_the_uploaded_name_is_only_read_for_its_extension(tmp_path):
    assert check_upload("../../../etc/cron.d/padron.csv", b"folio_legado\n1\n") == []
    assert check_upload("C:\\Users\\oficina\\padron.csv", b"folio_legado\n1\n") == []
    assert list(tmp_path.iterdir()) == []


def test_a_file_over_20_mb_is_refused(tmp_path):
    path = tmp_path / "grande.csv"
    path.write_bytes(b"folio_legado\n" + b"1\n" * ((LIMITS.max_bytes - 12) // 2 + 1))

    [error] = check_upload("grande.csv", path)

    assert LIMITS.max_bytes == 20 * 1024 * 1024
    assert error == RowError(0, "", "El archivo pesa 20.0 MB; el máximo es 20 MB.")
    assert check_upload("grande.csv", b"x", size=LIMITS.max_bytes + 1)


def test_a_file_of_exactly_20_mb_is_accepted():
    assert check_upload("a.csv", b"folio_legado\n1\n", size=LIMITS.max_bytes) == []


def test_an_empty_file_is_refused():
    assert check_upload("a.csv", b"") == [RowError(0, "", "El archivo está vacío.")]


def test_a_csv_that_is_really_a_zip_is_refused(tmp_path):
    xlsx = files.write_xlsx(tmp_path / "a.xlsx", [files.row()])

    [error] = check_upload("padron.csv", xlsx.read_bytes())

    assert "es en realidad un archivo comprimido" in error.message


def test_an_xlsx_that_is_not_a_zip_is_refused(tmp_path):
    csv_path = files.write_csv(tmp_path / "a.csv", [files.row()])

    assert check_upload("padron.xlsx", csv_path) == [
        RowError(0, "", "El archivo no es un libro .xlsx (un .xlsx es un archivo ZIP).")
    ]


@pytest.mark.parametrize("name", ["padron.xlsx", "padron.csv"])
def test_an_old_xls_or_a_password_protected_book_is_refused_with_its_reason(name):
    [error] = check_upload(name, reading.OLE_MAGIC + b"\x00" * 512)

    assert "Excel antiguo (.xls) o protegido con contraseña" in error.message


def test_a_csv_with_nul_bytes_is_not_text():
    utf16 = "folio_legado,curp\n1,2\n".encode("utf-16")

    [error] = check_upload("padron.csv", utf16)

    assert "bytes nulos" in error.message


def test_a_csv_that_is_neither_utf8_nor_windows_1252_is_refused():
    [error] = check_upload("padron.csv", b"folio_legado\n\x81\x8d\x8f\x90\x9d\n")  # undefined in cp1252, invalid UTF-8

    assert error.message == "El archivo .csv no es texto UTF-8 ni Windows-1252. Guárdelo como «CSV UTF-8»."


def test_check_upload_takes_bytes_a_path_or_an_open_file_and_leaves_the_file_where_it_was(tmp_path):
    xlsx = files.write_xlsx(tmp_path / "a.xlsx", [files.row()])
    upload = io.BytesIO(xlsx.read_bytes())
    upload.seek(7)

    assert check_upload("a.xlsx", xlsx.read_bytes()) == []
    assert check_upload("a.xlsx", xlsx) == []
    assert check_upload("a.xlsx", str(xlsx)) == []
    assert check_upload("a.xlsx", upload) == []
    assert upload.tell() == 7


# --- The zip directory, read before anything is unpacked ------------------------------------------------
def test_a_zip_bomb_is_refused_from_its_directory_without_unpacking(tmp_path, monkeypatch):
    bomb = files.zip_bomb(tmp_path / "bomba.xlsx", unpacked_mb=120)
    assert bomb.stat().st_size < 250_000  # 120 MB of zeros, about 1,000 to 1
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *args, **kwargs: pytest.fail("openpyxl opened the bomb"))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *args, **kwargs: pytest.fail("a part of the bomb was opened"))

    tracemalloc.start()
    try:
        refused = check_upload("bomba.xlsx", bomb)
        clean, report = validate(bomb)
        with pytest.raises(FileRejected):
            read_table(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert refused == report.errors
    assert only_error(report) == (0, "", "El archivo .xlsx ocuparía 120.0 MB al descomprimirse; el máximo es 100 MB.")
    assert clean == []
    assert peak < 10 * 1024 * 1024


def test_one_part_compressed_more_than_100_to_1_is_refused(tmp_path):
    bomb = files.zip_bomb(tmp_path / "bomba.xlsx", unpacked_mb=5)  # under 100 MB, but 1,000 to 1

    [error] = check_upload("bomba.xlsx", bomb)

    assert error.message == (
        "El archivo .xlsx tiene una parte comprimida más de 100 a 1 («xl/worksheets/sheet1.xml»); se rechaza por seguridad."
    )


def test_a_book_that_unpacks_past_the_limit_is_refused(tmp_path):
    xlsx = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(n) for n in range(1, 200)])

    [error] = check_upload("a.xlsx", xlsx, limits=UploadLimits(max_unpacked_bytes=10_000))

    assert error.message.startswith("El archivo .xlsx ocuparía ")


def test_more_than_1000_parts_are_refused_before_the_directory_is_listed(tmp_path, monkeypatch):
    many = files.many_parts_xlsx(tmp_path / "partes.xlsx", parts=1_001)
    monkeypatch.setattr(zipfile, "ZipFile", lambda *args, **kwargs: pytest.fail("the directory was listed"))

    [error] = check_upload("partes.xlsx", many)

    assert error.message == "El archivo .xlsx tiene demasiadas partes (1001; el máximo es 1000)."


def test_1000_parts_are_allowed(tmp_path):
    many = files.many_parts_xlsx(tmp_path / "partes.xlsx", parts=1_000)

    assert check_upload("partes.xlsx", many) == []


def test_an_encrypted_part_is_refused(tmp_path):
    path = files.write_raw_xlsx(tmp_path / "cifrado.xlsx", [files.row()])
    _patch_entry(path, "xl/workbook.xml", local_at=6, central_at=8, value=0x1, size="<H")  # "encrypted" flag

    [error] = check_upload("cifrado.xlsx", path)

    assert error.message == "El archivo .xlsx está protegido con contraseña; guárdelo sin contraseña."


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "documento.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", files.CONTENT_TYPES)
        archive.writestr("word/document.xml", "<document/>")

    [error] = check_upload("documento.xlsx", path)

    assert error.message == "El archivo no es un libro de Excel .xlsx: le faltan sus partes principales."


def test_a_binary_workbook_is_refused_with_its_name(tmp_path):
    path = tmp_path / "libro.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", files.CONTENT_TYPES)
        archive.writestr("xl/workbook.bin", b"\x00\x01")

    [error] = check_upload("libro.xlsx", path)

    assert error.message == "Es un libro binario de Excel (.xlsb); guárdelo como .xlsx."


def test_a_truncated_zip_is_refused(tmp_path):
    xlsx = files.write_xlsx(tmp_path / "a.xlsx", [files.row()])

    [error] = check_upload("a.xlsx", xlsx.read_bytes()[:-200])

    assert error.message == "El archivo .xlsx está dañado: no se puede leer como ZIP."


def _patch_entry(path, member: str, *, local_at: int, central_at: int, value: int, size: str = "<I") -> None:
    """Overwrite one field of ``member``'s local header and of its central directory entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        struct.pack_into(size, data, archive.getinfo(member).header_offset + local_at, value)
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into(size, data, at + central_at, value)
        at += 4
    path.write_bytes(bytes(data))


def test_a_zip_that_understates_a_part_is_cut_at_the_declared_size_and_refused(tmp_path):
    # given: a sheet that inflates to 20 MB but whose zip entry claims 1 MB (about 50 to 1: within the limits)
    sheet = f'<worksheet xmlns="{files.MAIN}"><sheetData>'.encode() + b"0" * (20 * 1024 * 1024)
    path = files.write_raw_xlsx(tmp_path / "miente.xlsx", [files.row()], extra_parts={"xl/worksheets/sheet1.xml": sheet})
    _patch_entry(path, "xl/worksheets/sheet1.xml", local_at=22, central_at=24, value=1024 * 1024)  # uncompressed size
    with zipfile.ZipFile(path) as archive:
        entry = archive.getinfo("xl/worksheets/sheet1.xml")
    entry_ratio = entry.file_size / entry.compress_size
    assert entry.file_size == 1024 * 1024
    assert entry_ratio < 100

    # when
    tracemalloc.start()
    try:
        assert check_upload("miente.xlsx", path) == []
        clean, report = validate(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # then: reading stopped at the declared 1 MB (the checksum fails) and memory stayed small
    assert clean == []
    assert only_error(report) == (
        0,
        "",
        "El archivo .xlsx está dañado o no es un libro de Excel: "
        "una parte no se descomprime entera o no coincide con su suma de verificación.",
    )
    assert peak < 20 * 1024 * 1024


# --- Reading CSV ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_in_utf8_with_or_without_bom_or_windows_1252_with_any_delimiter(tmp_path, encoding, delimiter):
    path = files.write_csv(
        tmp_path / "padron.csv",
        [files.row(1, nombre="Begoña", primer_apellido="Muñoz", calle_numero="Cerrada Ñandú 5, int. 3")],
        delimiter=delimiter,
        encoding=encoding,
    )

    clean, report = validate(path)

    assert report.errors == []
    [row] = clean
    assert (row.first_name, row.first_surname, row.street_address) == ("Begoña", "Muñoz", "Cerrada Ñandú 5, int. 3")
    assert row.line == 2


def test_a_quoted_value_with_a_line_break_is_one_spreadsheet_row(tmp_path):
    path = files.write_csv(tmp_path / "a.csv", [files.row(1, calle_numero="Calle 5\nInterior 2"), files.row(2, curp="MAL")])

    _clean, report = validate(path)

    assert only_error(report) == (3, "curp", "La CURP debe tener 18 caracteres; tiene 3.")


def test_a_csv_row_with_more_values_than_headers_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    # An unquoted semicolon in the last value spills it over two more columns.
    path.write_text(
        ";".join(files.HEADER) + "\n" + ";".join(files.row().values()) + ";Isla Urbana; sucursal sur\n", encoding="utf-8"
    )

    _clean, report = validate(path)

    assert only_error(report) == (2, "", "La fila tiene 23 valores y el encabezado 21 columnas; revise separadores y comillas.")


def test_read_table_gives_the_header_its_row_number_and_the_rows_as_written(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("\n\nfolio_legado;CURP;;\nA-1;x;;\n;;;\nA-2;y\n", encoding="cp1252")

    table = read_table(path)

    assert (table.kind, table.headers, table.header_line) == ("csv", ["folio_legado", "CURP"], 3)
    assert list(table.rows) == [(4, ["A-1", "x", "", ""]), (6, ["A-2", "y"])]


def test_a_quote_never_closed_stops_the_reading_at_its_row(tmp_path):
    path = tmp_path / "a.csv"
    lines = [";".join(files.HEADER), ";".join(files.row(1).values()), '"' + "x" * 200_000]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    clean, report = validate(path)

    assert clean == []
    assert only_error(report) == (
        3,
        "",
        "La fila 3 no se puede leer como CSV: una comilla quedó sin cerrar o una celda es demasiado larga.",
    )


# --- Reading XLSX -----------------------------------------------------------------------------------------------
def test_xlsx_saved_by_openpyxl_with_numbers_dates_and_booleans(tmp_path):
    path = files.write_xlsx(
        tmp_path / "padron.xlsx",
        [
            files.row(1)
            | {
                "anio_programa": 2021,
                "jefa_de_hogar": True,
                "telefono": 5512345678,
                "codigo_postal": 1000,
                "latitud": 19.2905,
                "longitud": -99.1672,
                "superficie_techo_m2": 40.550000000000004,
                "capacidad_tanque_l": 2500,
                "fecha_instalacion": date(2021, 5, 15),
                "alcaldia": 12,
            }
        ],
    )

    clean, report = validate(path)

    assert report.errors == []
    [row] = clean
    assert (row.program_year, row.woman_headed_household, row.phone, row.postal_code) == (2021, True, "5512345678", "01000")
    assert (row.latitude, row.longitude, row.roof_area_m2) == (Decimal("19.290500"), Decimal("-99.167200"), Decimal("40.55"))
    assert (row.tank_capacity_litres, row.installed_on, row.alcaldia_id) == (2500, date(2021, 5, 15), "09012")


def test_xlsx_as_excel_writes_it_shared_strings_and_date_cells(tmp_path):
    path = files.write_raw_xlsx(
        tmp_path / "padron.xlsx",
        [
            files.row(1) | {"fecha_instalacion": date(2021, 5, 15), "capacidad_tanque_l": 2500},
            files.row(2) | {"fecha_instalacion": Raw("<v>44331</v>", style=2), "latitud": Raw("<v>19.290500000000002</v>")},
            files.row(3) | {"fecha_instalacion": "44331", "superficie_techo_m2": Raw("<v>4.05E1</v>")},
        ],
    )

    clean, report = validate(path)

    assert report.errors == []
    assert [row.installed_on for row in clean] == [date(2021, 5, 15)] * 3
    assert clean[1].latitude == Decimal("19.290500")
    assert clean[2].roof_area_m2 == Decimal("40.50")


def test_xlsx_rich_text_is_joined_and_phonetic_runs_left_out(tmp_path):
    rich = (
        '<si><r><rPr><b/></rPr><t>María </t></r><r><t xml:space="preserve">Guadalupe</t></r>'
        '<rPh sb="0" eb="1"><t>まりあ</t></rPh></si>'
    )
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1, nombre="marcador")], rich={"marcador": rich})

    clean, report = validate(path)

    assert report.errors == []
    assert clean[0].first_name == "María Guadalupe"


def test_xlsx_pretty_printed_with_whitespace_between_elements_reads_the_same(tmp_path):
    rows = [
        files.row(1, capacidad_tanque_l=Formula("1000+1500", 2500), fecha_instalacion=date(2021, 5, 15)),
        files.row(2, nombre="marcador", telefono=5512345678),
    ]
    rich = '<si><r><t>María </t></r><r><rPr><b/></rPr><t>Guadalupe</t></r><rPh sb="0" eb="1"><t>まりあ</t></rPh></si>'
    compact = files.write_raw_xlsx(tmp_path / "compacto.xlsx", rows, rich={"marcador": rich})
    with zipfile.ZipFile(compact) as archive:
        parts = {name: archive.read(name).decode() for name in ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml")}
    pretty = {name: content.replace("><", ">\n    <") for name, content in parts.items()}
    indented = files.write_raw_xlsx(tmp_path / "sangrado.xlsx", rows, rich={"marcador": rich}, extra_parts=pretty)

    expected, compact_report = validate(compact)
    clean, report = validate(indented)

    assert compact_report.errors == report.errors == []
    assert clean == expected
    assert (clean[1].first_name, clean[1].phone, clean[0].tank_capacity_litres) == ("María Guadalupe", "5512345678", 2500)


def test_xlsx_in_the_1904_date_system(tmp_path):
    path = files.write_raw_xlsx(
        tmp_path / "mac.xlsx", [files.row(1, fecha_instalacion=Raw("<v>42869</v>", style=1))], date1904=True
    )

    clean, report = validate(path)

    assert report.errors == []
    assert clean[0].installed_on == date(2021, 5, 15)


def test_xlsx_without_cell_references_reads_cells_in_order(tmp_path):
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1), files.row(2)], references=False)

    clean, report = validate(path)

    assert report.errors == []
    assert [row.line for row in clean] == [2, 3]


def test_xlsx_formula_cells_give_their_saved_value_and_are_never_calculated(tmp_path):
    path = files.write_raw_xlsx(
        tmp_path / "a.xlsx",
        [
            files.row(
                1,
                instaladora=Formula('WEBSERVICE("http://169.254.169.254/")', "Isla Urbana"),
                capacidad_tanque_l=Formula("1000+1500", 2500),
            ),
            files.row(2, capacidad_tanque_l=Formula("1000+1500")),  # never calculated: no saved value
        ],
    )

    clean, report = validate(path)

    assert clean[0].installer_name == "Isla Urbana"
    assert clean[0].tank_capacity_litres == 2500
    assert only_error(report) == (3, "capacidad_tanque_l", "Falta este dato, que es obligatorio.")


def test_xlsx_cells_with_excel_errors_are_refused(tmp_path):
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1, colonia=Raw("<v>#N/A</v>", "e"))])

    _clean, report = validate(path)

    assert only_error(report) == (2, "colonia", "La celda muestra un error de Excel (#N/A); capture el valor.")


def test_xlsx_with_prefixed_element_names_is_read(tmp_path):
    strings: dict[str, int] = {}
    rows = [(1, files.HEADER), (2, list(files.row(1).values()))]
    sheet = "".join(files.sheet_xml(rows, strings, shared=False))
    for plain, prefixed in [
        ("<worksheet xmlns=", "<x:worksheet xmlns:x="),
        ("</worksheet>", "</x:worksheet>"),
        ("sheetData>", "x:sheetData>"),
    ]:
        sheet = sheet.replace(plain, prefixed)
    for tag in ("row", "c", "is", "t"):
        sheet = sheet.replace(f"<{tag} ", f"<x:{tag} ").replace(f"<{tag}>", f"<x:{tag}>").replace(f"</{tag}>", f"</x:{tag}>")
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [], extra_parts={"xl/worksheets/sheet1.xml": sheet})

    clean, report = validate(path)

    assert report.errors == []
    assert clean[0].legacy_folio == files.row(1)["folio_legado"]


def test_only_the_first_sheet_is_read(tmp_path):
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.append(files.HEADER)
    first.append(list(files.row(1).values()))
    second = workbook.create_sheet("Notas")
    second.append(["otra", "hoja"])
    second.append(["con", "datos"])
    workbook.save(tmp_path / "a.xlsx")

    clean, report = validate(tmp_path / "a.xlsx")

    assert report.errors == [] and report.unknown_columns == []
    assert len(clean) == 1


@pytest.mark.parametrize(
    "part",
    ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/workbook.xml", "xl/styles.xml", "xl/_rels/workbook.xml.rels"],
)
def test_a_dtd_in_any_part_is_refused_billion_laughs_included(tmp_path, part, no_network):
    laughs = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
        f'<!ENTITY xxe SYSTEM "{METADATA_URL}">]>'
    )
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1, nombre="&lol3;")])
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name).decode() for name in archive.namelist()}
    content = parts[part]
    if content.startswith("<?xml"):
        declaration, _newline, body = content.partition("\n")
        content = f"{declaration}\n{laughs}{body}"
    else:
        content = laughs + content
    path = files.write_raw_xlsx(tmp_path / "b.xlsx", [files.row(1)], extra_parts={part: content})

    clean, report = validate(path)

    assert clean == []
    assert only_error(report) == (
        0,
        "",
        "El archivo .xlsx está dañado o no es un libro de Excel: declara un DTD o entidades, que no se admiten.",
    )
    assert no_network == []


def test_a_cell_pointing_at_a_missing_shared_string_is_refused(tmp_path):
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1, colonia=Raw("<v>99999</v>", "s"))])

    _clean, report = validate(path)

    assert only_error(report) == (
        0,
        "",
        "El archivo .xlsx está dañado o no es un libro de Excel: una celda remite a un texto compartido que no existe.",
    )


def test_a_sheet_that_is_not_xml_is_refused(tmp_path):
    path = files.write_raw_xlsx(tmp_path / "a.xlsx", [files.row(1)], extra_parts={"xl/worksheets/sheet1.xml": "folio,curp\n1,2"})

    _clean, report = validate(path)

    assert only_error(report) == (
        0,
        "",
        "El archivo .xlsx está dañado o no es un libro de Excel: su XML está mal formado (línea 1).",
    )


# --- Headers ------------------------------------------------------------------------------------------------------
ODD_HEADERS = {
    "folio_legado": "FOLIO LEGADO",
    "anio_programa": "Año del programa",
    "nombre": " Nombre ",
    "primer_apellido": "Primer   Apellido",
    "segundo_apellido": "segundo-apellido",
    "curp": "curp",
    "sexo": "SEXO",
    "jefa_de_hogar": "Jefa de Hogar",
    "telefono": "Teléfono",
    "calle_numero": "Calle y número",
    "colonia": "COLONIA",
    "alcaldia": "Alcaldía",
    "codigo_postal": "Código Postal",
    "latitud": "LATITUD",
    "longitud": "Longitud",
    "material_techo": "Material del techo",
    "superficie_techo_m2": "Superficie del techo (m²)",
    "capacidad_tanque_l": "Capacidad tanque (L)",
    "fecha_instalacion": "Fecha de instalación",
    "instaladora": "INSTALADORA",
    "modalidad": "Modalidad",
}


@pytest.mark.parametrize("writer", [files.write_csv, files.write_xlsx])
def test_headers_match_whatever_their_case_accents_spacing_or_order(tmp_path, writer):
    order = list(reversed(COLUMN_NAMES))
    header = [ODD_HEADERS[name] for name in order]
    values = files.row(1)
    path = writer(
        tmp_path / f"a{'.csv' if writer is files.write_csv else '.xlsx'}", [[values[name] for name in order]], header=header
    )

    clean, report = validate(path)

    assert report.errors == [] and report.unknown_columns == []
    [expected], _report = validate(files.write_csv(tmp_path / "b.csv", [values]))
    assert clean == [expected]


def test_unknown_columns_are_reported_and_ignored(tmp_path):
    header = ["Observaciones", *files.HEADER, "Técnico que visitó", ""]
    path = files.write_csv(
        tmp_path / "a.csv", [{"Observaciones": "ninguna", "Técnico que visitó": "Juan"} | files.row()], header=header
    )

    clean, report = validate(path)

    assert report.errors == []
    assert report.unknown_columns == ["Observaciones", "Técnico que visitó"]
    assert len(clean) == 1


def test_missing_required_columns_are_each_reported_and_no_row_is_read(tmp_path):
    header = [name for name in files.HEADER if name not in ("curp", "modalidad", "telefono")]

    clean, report = validate(files.write_csv(tmp_path / "a.csv", [files.row()], header=header))

    assert clean == []
    assert errors_of(report) == [
        (0, "curp", "Falta la columna obligatoria «curp»."),
        (0, "modalidad", "Falta la columna obligatoria «modalidad»."),
    ]


def test_missing_optional_columns_read_as_blank(tmp_path):
    optional = ["segundo_apellido", "jefa_de_hogar", "telefono", "codigo_postal", "latitud", "longitud", "instaladora"]
    header = [name for name in files.HEADER if name not in optional]

    [row], report = validate(files.write_csv(tmp_path / "a.csv", [files.row()], header=header))

    assert report.errors == []
    assert (row.second_surname, row.woman_headed_household, row.phone, row.postal_code) == ("", False, "", "")
    assert (row.latitude, row.longitude, row.installer_name) == (None, None, "")


def test_a_column_given_twice_is_refused(tmp_path):
    header = [*files.HEADER, "CURP"]

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", [files.row()], header=header))

    assert only_error(report) == (0, "curp", "La columna «curp» aparece dos veces (columnas F y V).")


def test_map_headers_gives_positions_and_the_aliases_offices_use():
    mapped = map_headers(["Folio", "Año", "CP", "Lat", "Lng", "Domicilio"])

    assert mapped.positions == {
        "folio_legado": 0,
        "anio_programa": 1,
        "codigo_postal": 2,
        "latitud": 3,
        "longitud": 4,
        "calle_numero": 5,
    }
    assert mapped.unknown == []


def test_a_file_with_only_blank_lines_has_no_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("\n ; ; \n\n", encoding="utf-8")

    _clean, report = validate(path)

    assert only_error(report) == (0, "", "El archivo no tiene encabezado ni filas.")


def test_a_header_without_rows_is_refused(tmp_path):
    _clean, report = validate(files.write_csv(tmp_path / "a.csv", []))

    assert only_error(report) == (0, "", "La primera hoja no tiene filas de datos debajo del encabezado.")


# --- Blank rows and row numbers ------------------------------------------------------------------------------------
def test_blank_csv_rows_are_skipped_and_numbers_stay_those_of_the_spreadsheet(tmp_path):
    path = tmp_path / "a.csv"
    lines = [
        "",
        ";".join(files.HEADER),
        ";".join(files.row(1).values()),
        "",
        ";" * 20,
        "  ;  ;  ",
        ";".join(files.row(2, curp="MAL").values()),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    clean, report = validate(path)

    assert [row.line for row in clean] == [3]
    assert report.rows == 2
    assert only_error(report) == (7, "curp", "La CURP debe tener 18 caracteres; tiene 3.")


def test_blank_xlsx_rows_are_skipped_and_numbers_stay_those_of_the_spreadsheet(tmp_path):
    header, good, bad = files.HEADER, list(files.row(1).values()), list(files.row(2, curp="MAL").values())
    path = files.write_raw_xlsx(
        tmp_path / "a.xlsx", [(3, header), (4, good), (5, [""] * 21), (6, [" ", None]), (9, bad)], header=None, numbered=True
    )

    clean, report = validate(path)

    assert [row.line for row in clean] == [4]
    assert only_error(report) == (9, "curp", "La CURP debe tener 18 caracteres; tiene 3.")


def test_openpyxl_blank_rows_keep_the_numbering(tmp_path):
    path = files.write_xlsx(tmp_path / "a.xlsx", [files.row(1), [None] * 21, ["", "  "], files.row(2, sexo="Hombre")])

    _clean, report = validate(path)

    assert only_error(report) == (5, "sexo", "El sexo (Hombre) no coincide con el de la CURP (Mujer).")


# --- Rows: every error with its row number, column and reason ------------------------------------------------------
ROW_ERRORS = [
    ({"nombre": ""}, "nombre", "Falta este dato, que es obligatorio."),
    ({"curp": "  "}, "curp", "Falta este dato, que es obligatorio."),
    ({"anio_programa": "2018"}, "anio_programa",
     "El año del programa 2018 no existe (años registrados: 2019, 2020, 2021, 2022, 2023, 2024, 2025)."),
    ({"anio_programa": "veintiuno"}, "anio_programa", "«veintiuno» no es un número."),
    ({"colonia": "Condesa"}, "colonia", "La colonia «Condesa» no existe en la alcaldía Tlalpan."),
    ({"colonia": "Santa Cruz Meyehualco"}, "colonia", "La colonia «Santa Cruz Meyehualco» no existe en la alcaldía Tlalpan."),
    ({"alcaldia": "Ecatepec"}, "alcaldia", "La alcaldía «Ecatepec» no existe en la Ciudad de México."),
    ({"alcaldia": "19"}, "alcaldia", "La clave «19» no es de una alcaldía de la Ciudad de México (09002 a 09017, o 2 a 17)."),
    ({"latitud": "20.6597"}, "latitud", "La latitud 20.6597 queda fuera de la Ciudad de México (19.04 a 19.60)."),
    ({"longitud": "-103.35"}, "longitud", "La longitud -103.35 queda fuera de la Ciudad de México (-99.37 a -98.94)."),
    ({"longitud": ""}, "longitud", "Capture latitud y longitud juntas, o ninguna."),
    ({"latitud": "-99.1672", "longitud": "19.2905"}, "latitud", "La latitud y la longitud parecen intercambiadas."),
    ({"curp": make_curp(1)[:17] + str((int(make_curp(1)[17]) + 1) % 10)}, "curp",
     "El dígito verificador de la CURP no coincide; revise que esté bien escrita."),
    ({"curp": "GOMA851301HDFRRN00"}, "curp", "La CURP contiene una fecha de nacimiento imposible."),
    ({"sexo": "H"}, "sexo", "El sexo (Hombre) no coincide con el de la CURP (Mujer)."),
    ({"sexo": "Otro"}, "sexo", "El sexo «Otro» no se reconoce; use H (hombre), M o F (mujer), o X."),
    ({"jefa_de_hogar": "quizá"}, "jefa_de_hogar", "«quizá» no es sí ni no; use Sí, No, 1, 0 o X."),
    ({"telefono": "1234"}, "telefono", "El teléfono debe tener 10 dígitos."),
    ({"codigo_postal": "123"}, "codigo_postal", "El código postal «123» debe tener 5 dígitos."),
    ({"capacidad_tanque_l": "0"}, "capacidad_tanque_l", "Debe ser mayor que cero."),
    ({"capacidad_tanque_l": "-2500"}, "capacidad_tanque_l", "Debe ser mayor que cero."),
    ({"capacidad_tanque_l": "2,500"}, "capacidad_tanque_l",
     "El número «2,500» es ambiguo (¿2.500 o 2500?); escriba los miles sin separador."),
    ({"superficie_techo_m2": "-40"}, "superficie_techo_m2", "Debe ser mayor que cero."),
    ({"superficie_techo_m2": "0"}, "superficie_techo_m2", "Debe ser mayor que cero."),
    ({"superficie_techo_m2": "1.234,5"}, "superficie_techo_m2",
     "El número «1.234,5» lleva separador de miles; escríbalo sin él, con punto o coma decimal (1234.5)."),
    ({"fecha_instalacion": "02/06/2024"}, "fecha_instalacion", "La fecha de instalación 02/06/2024 es posterior a hoy."),
    ({"fecha_instalacion": "31/12/2018", "anio_programa": "2019"}, "fecha_instalacion",
     "La fecha de instalación 31/12/2018 es anterior al inicio del programa (2019)."),
    ({"fecha_instalacion": "15/05/2020"}, "fecha_instalacion",
     "La fecha de instalación 15/05/2020 es anterior al año del programa (2021)."),
    ({"fecha_instalacion": "31/02/2021"}, "fecha_instalacion", "La fecha «31/02/2021» no existe."),
    ({"material_techo": "teja"}, "material_techo", None),
    ({"modalidad": "beca"}, "modalidad", "La modalidad «beca» no se reconoce; use «subsidio total» o «subsidio parcial»."),
    ({"folio_legado": "F" * 41}, "folio_legado", "El texto tiene 41 caracteres; el máximo es 40."),
    ({"calle_numero": "x" * 201}, "calle_numero", "El texto tiene 201 caracteres; el máximo es 200."),
    ({"colonia": "#N/A"}, "colonia", "La celda muestra un error de Excel (#N/A); capture el valor."),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "column", "message"), ROW_ERRORS)
@pytest.mark.parametrize("writer", ["csv", "xlsx"])
def test_each_wrong_value_is_reported_with_its_row_column_and_reason(tmp_path, changes, column, message, writer):
    rows = [files.row(1), files.row(2), files.row(3, **changes), files.row(4)]
    path = files.write_csv(tmp_path / "a.csv", rows) if writer == "csv" else files.write_xlsx(tmp_path / "a.xlsx", rows)

    clean, report = validate(path)

    line, where, reason = only_error(report)
    assert (line, where) == (4, column)
    assert message is None or reason == message
    assert [row.line for row in clean] == [2, 3, 5]
    assert report.rows == 4 and report.dry_run is True


def test_every_error_of_a_row_is_reported_one_per_column_in_column_order(tmp_path):
    bad = files.row(
        1, anio_programa="2030", curp="XX", alcaldia="Narnia", colonia="Centro", capacidad_tanque_l="0", modalidad="", latitud="1"
    )

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", [bad]))

    assert [(line, column) for line, column, _message in errors_of(report)] == [
        (2, "anio_programa"),
        (2, "curp"),
        (2, "alcaldia"),  # the colonia is not looked for in an unknown alcaldía
        (2, "latitud"),
        (2, "capacidad_tanque_l"),
        (2, "modalidad"),
    ]
    assert report.as_dict()["rejected_rows"] == 1


def test_a_missing_colonia_is_reported_even_when_the_alcaldia_is_wrong(tmp_path):
    _clean, report = validate(files.write_csv(tmp_path / "a.csv", [files.row(1, alcaldia="Narnia", colonia="")]))

    assert [column for _line, column, _message in errors_of(report)] == ["colonia", "alcaldia"]


def test_values_are_read_the_way_offices_write_them(tmp_path):
    written = files.row(
        1,
        nombre="  María   Guadalupe ",
        sexo="F",
        jefa_de_hogar="x",
        telefono="(55) 1234-5678",
        colonia="TLALPAN CENTRO",
        alcaldia="tlalpan",
        latitud="19,2905",
        longitud="-99,1672",
        material_techo="lamina metalica",
        superficie_techo_m2="40,5",
        capacidad_tanque_l="2500.0",
        fecha_instalacion="44331",
        modalidad="parcial",
    )

    [row], report = validate(files.write_csv(tmp_path / "a.csv", [written], delimiter=";"))

    assert report.errors == []
    assert row == CleanRow(
        line=2,
        legacy_folio="SCALL-2021-00001",
        program_year=2021,
        first_name="María Guadalupe",
        first_surname="Hernández",
        second_surname="López",
        curp=make_curp(1),
        sex="M",
        birth_date=date(1961, 2, 2),
        woman_headed_household=True,
        phone="5512345678",
        street_address="Calle Tláloc 1",
        colonia_id=1,
        alcaldia_id="09012",
        postal_code="14000",
        latitude=Decimal("19.290500"),
        longitude=Decimal("-99.167200"),
        roof_material="lamina_metalica",
        roof_area_m2=Decimal("40.50"),
        tank_capacity_litres=2500,
        installed_on=date(2021, 5, 15),
        installer_name="Isla Urbana",
        modality="partial_subsidy_50",
    )


def test_clean_row_takes_a_row_by_column_name_and_returns_all_its_errors():
    lookups = files.lookups()

    good = clean_row(7, files.row(1), lookups)
    bad = clean_row(8, {"folio_legado": "F-1", "curp": "MAL"}, lookups)

    assert isinstance(good, CleanRow) and good.line == 7
    assert all(isinstance(error, RowError) and error.line == 8 for error in bad)
    assert {error.column for error in bad} == {
        "anio_programa", "nombre", "primer_apellido", "curp", "sexo", "calle_numero", "colonia", "alcaldia",
        "material_techo", "superficie_techo_m2", "capacidad_tanque_l", "fecha_instalacion", "modalidad",
    }  # fmt: skip


def test_a_wrong_value_repeated_down_the_file_is_reported_on_every_row(tmp_path):
    rows = [files.row(n, material_techo="teja", fecha_instalacion="31/02/2021") for n in range(1, 4)]

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    assert [(line, column) for line, column, _message in errors_of(report)] == [
        (line, column) for line in (2, 3, 4) for column in ("material_techo", "fecha_instalacion")
    ]


def test_errors_past_the_limit_are_counted_not_listed(tmp_path):
    rows = [files.row(n, capacidad_tanque_l="0", modalidad="beca") for n in range(1, 4)]

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", rows), limits=UploadLimits(max_reported_errors=3))

    assert [(line, column) for line, column, _message in errors_of(report)] == [
        (2, "capacidad_tanque_l"),
        (2, "modalidad"),
        (3, "capacidad_tanque_l"),
        (3, "modalidad"),
        (0, ""),
    ]
    assert report.errors[-1].message == "Hay 2 errores más que no se muestran; corrija los anteriores y valide de nuevo."
    assert report.rows == 3


# --- Repeats within the file -------------------------------------------------------------------------------------------
def test_the_same_legacy_folio_twice_is_reported_with_the_first_row(tmp_path):
    rows = [files.row(1), files.row(2), files.row(3, folio_legado=files.row(1)["folio_legado"])]

    clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    assert only_error(report) == (4, "folio_legado", "El folio legado «SCALL-2021-00001» ya aparece en la fila 2.")
    assert [row.line for row in clean] == [2, 3]


def test_the_same_curp_twice_in_one_year_is_reported_but_not_across_years(tmp_path):
    curp = make_curp(1)
    rows = [
        files.row(1),
        files.row(2, curp=curp, anio_programa="2022", fecha_instalacion="01/06/2022"),
        files.row(3, curp=curp.lower()),
    ]

    clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    assert only_error(report) == (4, "curp", "La misma CURP ya aparece en la fila 2 para el año 2021.")
    assert [row.line for row in clean] == [2, 3]


def test_the_same_dwelling_twice_is_reported_whatever_its_spelling(tmp_path):
    rows = [
        files.row(1, calle_numero="Calle Tláloc 5"),
        files.row(2, calle_numero="CALLE  TLALOC 5."),
        files.row(3, calle_numero="Calle Tláloc 5", colonia="Pedregal de San Nicolás 1a Sección"),
    ]

    clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    assert only_error(report) == (
        3,
        "calle_numero",
        "La misma vivienda (calle y número en la colonia Tlalpan Centro) ya aparece en la fila 2.",
    )
    assert [row.line for row in clean] == [2, 4]


def test_a_repeat_of_a_wrong_row_is_still_reported(tmp_path):
    rows = [files.row(1, capacidad_tanque_l="0"), files.row(2, folio_legado=files.row(1)["folio_legado"])]

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    assert errors_of(report) == [
        (2, "capacidad_tanque_l", "Debe ser mayor que cero."),
        (3, "folio_legado", "El folio legado «SCALL-2021-00001» ya aparece en la fila 2."),
    ]


def test_messages_never_repeat_a_persons_data(tmp_path):
    curp = make_curp(1)
    rows = [
        files.row(1),
        files.row(2, curp=curp, telefono="12 34", calle_numero="Calle Tláloc 1"),
        files.row(3, curp=curp[:17] + "X"),
    ]

    _clean, report = validate(files.write_csv(tmp_path / "a.csv", rows))

    text = " ".join(str(error.message) for error in report.errors)
    assert len(report.errors) == 4
    for personal in (curp, curp[:17], "12 34", "Tláloc", "Hernández"):
        assert personal not in text


# --- URLs are text ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("writer", ["csv", "xlsx"])
def test_a_url_in_a_cell_is_stored_as_text_and_nothing_is_fetched(tmp_path, no_network, writer):
    rows = [files.row(1, instaladora=METADATA_URL), files.row(2, colonia=METADATA_URL, calle_numero=f"{METADATA_URL} 5")]
    # The hand-written XLSX's relationships also hold an external link to the same URL.
    path = files.write_csv(tmp_path / "a.csv", rows) if writer == "csv" else files.write_raw_xlsx(tmp_path / "a.xlsx", rows)

    clean, report = validate(path)

    assert clean[0].installer_name == METADATA_URL
    assert only_error(report) == (3, "colonia", f"La colonia «{METADATA_URL}» no existe en la alcaldía Tlalpan.")
    assert no_network == []


def test_the_no_network_guard_works(no_network):
    with pytest.raises(OSError, match="network is off"):
        socket.create_connection(("169.254.169.254", 80), timeout=0.1)

    assert len(no_network) == 1


# --- Reference data from the database ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_lookups_load_in_three_queries_and_rows_are_checked_without_any(tmp_path, django_assert_num_queries):
    tlalpan = ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    ColoniaFactory(alcaldia_id="09007", name="Tlalpan Centro")  # same name, another alcaldía
    path = files.write_csv(tmp_path / "a.csv", [files.row(n) for n in range(1, 51)] + [files.row(51, colonia="Narvarte")])

    with django_assert_num_queries(3):
        lookups = Lookups.load(today=date(2024, 6, 1))
    with django_assert_num_queries(0):
        clean, report = validate_file(path, lookups)

    assert {row.colonia_id for row in clean} == {tlalpan.pk}
    assert len(clean) == 50
    assert only_error(report) == (52, "colonia", "La colonia «Narvarte» no existe en la alcaldía Tlalpan.")


@pytest.mark.django_db
def test_validate_file_loads_the_lookups_itself_when_not_given(tmp_path, django_assert_num_queries):
    ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")
    path = files.write_csv(tmp_path / "a.csv", [files.row(1), files.row(2)])

    with django_assert_num_queries(3):
        clean, report = validate_file(path)

    assert report.ok and len(clean) == 2


# --- A part at a time ---------------------------------------------------------------------------------------------
def test_a_file_comes_out_a_part_at_a_time_with_each_rows_errors_recorded_before_its_part(tmp_path):
    # given: 7 rows, the fourth with a wrong CURP, read 2 clean rows at a time
    rows = [files.row(n) for n in range(1, 8)]
    rows[3]["curp"] = "HEML750501MDFRPR0X"
    path = files.write_csv(tmp_path / "a.csv", rows)
    report = ImportReport(dry_run=False)
    parts = FileParts(path, report, files.lookups(), part_rows=2)
    # when: each part is looked at as it comes out
    seen = [([row.line for row in part], len(report.errors), report.rows, parts.estimated_rows) for part in parts]
    # then: the header is line 1; the bad row (line 5) is in the report before the part after it comes out
    assert seen == [([2, 3], 0, 2, 7), ([4, 6], 1, 5, 7), ([7, 8], 1, 7, 7)]
    assert not parts.refused and [(e.line, e.column) for e in report.errors] == [(5, "curp")]


def test_a_whole_file_refused_part_way_says_so_and_its_rows_count_for_nothing(tmp_path):
    path = tmp_path / "a.csv"
    lines = [";".join(files.HEADER), *(";".join(files.row(n).values()) for n in range(1, 4)), '"' + "x" * 200_000]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ImportReport(dry_run=False)
    parts = FileParts(path, report, files.lookups(), part_rows=2)

    given = [len(part) for part in parts]

    assert given == [2] and parts.refused  # the part of rows 2–3 came out before row 5 broke the file
    assert [(e.line, e.column) for e in report.errors] == [(5, "")]
    assert validate(path)[0] == []


def test_an_xlsx_announces_its_rows_by_its_declared_dimension(tmp_path):
    rows = [files.row(n) for n in range(1, 6)]
    declared = files.write_raw_xlsx(tmp_path / "declared.xlsx", rows, dimension="A1:U6")
    silent = files.write_raw_xlsx(tmp_path / "silent.xlsx", rows)
    for path, estimate in ((declared, 5), (silent, 0)):
        parts = FileParts(path, ImportReport(dry_run=False), files.lookups(), part_rows=2)
        first = next(iter(parts))
        assert (len(first), parts.estimated_rows) == (2, estimate)


def test_a_csv_announces_its_rows_by_its_lines_counting_a_last_line_without_its_break(tmp_path):
    path = files.write_csv(tmp_path / "a.csv", [files.row(n) for n in range(1, 4)])
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))
    parts = FileParts(path, ImportReport(dry_run=False), files.lookups())
    assert [len(part) for part in parts] == [3] and parts.estimated_rows == 3


@pytest.mark.django_db
def test_a_refused_file_costs_no_query(tmp_path, django_assert_num_queries):
    path = files.write_csv(tmp_path / "a.csv", [files.row()], header=["curp"])

    with django_assert_num_queries(0):
        _clean, report = validate_file(path)

    assert len(report.errors) == len(reading.REQUIRED_COLUMNS) - 1


@pytest.mark.django_db
def test_lookups_today_is_mexico_citys_date():
    assert Lookups.load().today == reading.timezone.localdate()


# --- The program's size -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_62700_rows_validate_without_error(tmp_path):
    colonias = files.big_colonias()
    path = files.write_csv(tmp_path / "padron.csv", files.big_rows(62_700, colonias), delimiter=";", encoding="utf-8-sig")

    clean, report = validate_file(path, files.lookups(colonias=colonias))

    assert report.errors == []
    assert report.rows == len(clean) == 62_700
    assert clean[-1].line == 62_701


# --- Harvest's own exports read back -------------------------------------------------------------------------------
def test_cells_escaped_by_harvests_exports_are_read_back_as_they_were_stored(tmp_path):
    """An export escapes formula starts with ' (reliability.md D1); importing it again undoes exactly that."""
    path = files.write_csv(
        tmp_path / "exportado.csv",
        [files.row(1, longitud="'-99.1672", nombre="'=Guadalupe", segundo_apellido="''López", telefono="'+52 55 1234 5678")],
    )

    clean, report = validate(path)

    assert report.errors == []
    assert clean[0].longitude == Decimal("-99.1672")
    assert (clean[0].first_name, clean[0].second_surname) == ("=Guadalupe", "'López")


def test_an_apostrophe_the_office_typed_before_ordinary_text_is_kept(tmp_path):
    path = files.write_csv(tmp_path / "hoja.csv", [files.row(1, segundo_apellido="'Ángeles")])

    clean, report = validate(path)

    assert report.errors == []
    assert clean[0].second_surname == "'Ángeles"
