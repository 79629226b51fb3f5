"""``manage.py import_legacy PATH [--dry-run]``: import a legacy spreadsheet from the shell, in this process."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.context import audit_context
from legacy.rows import ImportReport, RowError
from legacy.services import import_file


def error_line(error: RowError) -> str:
    """One refusal as the office reads it: «fila 12, columna curp: …»."""
    if error.line and error.column:
        return f"fila {error.line}, columna {error.column}: {error.message}"
    if error.line:
        return f"fila {error.line}: {error.message}"
    if error.column:
        return f"encabezado, columna {error.column}: {error.message}"
    return f"archivo: {error.message}"


class Command(BaseCommand):
    help = (
        "Importa una hoja legada (.csv o .xlsx) sin pasar por los trabajadores: valida cada fila y, si no hay "
        "ningún error, guarda todas (o ninguna). Sale con código 1 si algo se rechaza."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="Ruta del archivo .csv o .xlsx.")
        parser.add_argument("--dry-run", action="store_true", help="Solo validar y reportar; no guarda nada.")

    def handle(self, *args: object, **options: object) -> None:
        path = options["path"]
        assert isinstance(path, Path)
        dry_run = bool(options["dry_run"])
        if not path.is_file():
            raise CommandError(f"No existe el archivo {path}.")
        started = time.perf_counter()
        with audit_context(request_id=f"import-legacy-{uuid.uuid4().hex}"):
            report = import_file(path, by=None, dry_run=dry_run)
        elapsed = time.perf_counter() - started
        self.write_report(report, elapsed)
        if not report.ok:
            rejected = report.rejected_rows
            what = f"{rejected:,} filas con errores" if rejected else "el archivo no se pudo leer"
            raise CommandError(f"Importación rechazada ({what}); no se guardó nada.")
        if dry_run:
            self.stdout.write(self.style.SUCCESS("Validación correcta: el archivo se puede importar (no se guardó nada)."))
        else:
            self.stdout.write(self.style.SUCCESS("Importación terminada."))

    def write_report(self, report: ImportReport, elapsed: float) -> None:
        mode = "validación" if report.dry_run else "importación"
        self.stdout.write(
            f"{mode.capitalize()} en {elapsed:.1f} s: {report.rows:,} filas; nuevas {report.created:,}, "
            f"actualizadas {report.updated:,}, sin cambios {report.unchanged:,}, con errores "
            f"{report.rejected_rows:,}."
        )
        if report.unknown_columns:
            self.stdout.write("Columnas desconocidas (se ignoran): " + ", ".join(report.unknown_columns))
        for error in report.errors:
            self.stdout.write(error_line(error))
