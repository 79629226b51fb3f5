"""``manage.py import_legacy PATH [--dry-run]``: the same import from the shell, with its exit code."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line

from audit.models import AuditEntry
from installations.models import Application
from tests.factories import ColoniaFactory
from tests.legacy import files


@pytest.fixture
def tlalpan(db):
    return ColoniaFactory(alcaldia_id="09012", name="Tlalpan Centro")


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_legacy", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_clean_sheet_is_imported_and_counted(tlalpan, tmp_path):
    path = files.write_csv(tmp_path / "padron.csv", [files.row(n) for n in range(1, 4)])
    out, _err = run(str(path))
    assert "3 filas; nuevas 3, actualizadas 0, sin cambios 0, con errores 0" in out
    assert "Importación terminada." in out
    assert Application.objects.filter(channel="legado").count() == 3
    # the command's audit rows read together under one id
    assert len(set(AuditEntry.objects.values_list("request_id", flat=True))) == 1
    # and once more: nothing to do
    out, _err = run(str(path))
    assert "nuevas 0, actualizadas 0, sin cambios 3" in out


def test_a_dry_run_reports_and_stores_nothing(tlalpan, tmp_path):
    path = files.write_csv(tmp_path / "padron.csv", [files.row(1), files.row(2)])
    out, _err = run(str(path), "--dry-run")
    assert "Validación en" in out and "nuevas 2" in out
    assert "se puede importar" in out
    assert Application.objects.count() == 0


def test_every_refusal_is_printed_with_row_and_column_and_the_command_fails(tlalpan, tmp_path):
    rows = [files.row(1), files.row(2, curp="HEML750501MDFRPR0X"), files.row(3, capacidad_tanque_l="mucha")]
    path = files.write_csv(tmp_path / "padron.csv", rows)
    out = StringIO()
    with pytest.raises(CommandError, match=r"Importación rechazada \(2 filas con errores\); no se guardó nada"):
        call_command("import_legacy", str(path), stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("fila 3, columna curp: ") for line in lines)
    assert any(line.startswith("fila 4, columna capacidad_tanque_l: ") for line in lines)
    assert Application.objects.count() == 0


def test_a_file_that_is_not_a_sheet_is_refused_as_a_whole(db, tmp_path):
    path = tmp_path / "padron.txt"
    path.write_text("hola")
    out = StringIO()
    with pytest.raises(CommandError, match="el archivo no se pudo leer"):
        call_command("import_legacy", str(path), stdout=out)
    assert out.getvalue().splitlines()[-1].startswith("archivo: Solo se aceptan archivos .csv o .xlsx")


def test_a_missing_header_column_is_named(db, tmp_path):
    path = files.write_csv(tmp_path / "padron.csv", [files.row(1)], header=[c for c in files.HEADER if c != "curp"])
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("import_legacy", str(path), stdout=out)
    assert "encabezado, columna curp: " in out.getvalue()


def test_a_path_that_does_not_exist_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="No existe el archivo"):
        run(str(tmp_path / "no-esta.csv"))


def test_the_shell_gets_exit_code_1_when_anything_is_refused_and_0_otherwise(tlalpan, tmp_path, capsys, monkeypatch):
    # run_from_argv closes the connections when it ends; the test's transaction needs its own open
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    bad = files.write_csv(tmp_path / "mala.csv", [files.row(1, fecha_instalacion="ayer")])
    good = files.write_csv(tmp_path / "buena.csv", [files.row(1)])
    with pytest.raises(SystemExit) as exit_code:
        execute_from_command_line(["manage.py", "import_legacy", str(bad), "--dry-run"])
    assert exit_code.value.code == 1
    assert "Importación rechazada" in capsys.readouterr().err
    execute_from_command_line(["manage.py", "import_legacy", str(good), "--dry-run"])  # returns: exit code 0
