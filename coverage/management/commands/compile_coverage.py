"""compile_coverage: queue a coverage compile and follow it, or run it here with --inline."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coverage.services import coverage_compile_inline, coverage_refresh_request
from worker.models import JobState


class Command(BaseCommand):
    help = "Compila las estadísticas de cobertura: encola el trabajo y espera a que termine (o lo corre aquí con --inline)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--incremental", action="store_true", help="Solo las alcaldías con cambios desde el último corte del día."
        )
        parser.add_argument("--inline", action="store_true", help="Compilar en este proceso, sin trabajadores.")
        parser.add_argument(
            "--rebuild-facts",
            action="store_true",
            help="Derivar de nuevo los hechos de todas las solicitudes desde las tablas de origen.",
        )
        parser.add_argument("--no-wait", action="store_true", help="Encolar y salir sin esperar.")
        parser.add_argument("--timeout", type=int, default=600, help="Segundos máximos de espera (600).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["timeout"] <= 0:
            raise CommandError("--timeout: debe ser un número de segundos mayor que cero.")
        job, created = coverage_refresh_request(
            by=None, incremental=options["incremental"], rebuild_facts=options["rebuild_facts"]
        )
        self.stdout.write(f"Trabajo {job.pk} ({'nuevo' if created else 'ya estaba en curso'}).")
        if options["inline"]:
            started = time.perf_counter()
            snapshot = coverage_compile_inline(job)
            if snapshot is None:
                raise CommandError(f"El trabajo {job.pk} ya había terminado.")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Corte {snapshot.pk} publicado: {snapshot.source_rows:,} solicitudes, {time.perf_counter() - started:.2f} s."
                )
            )
            return
        if options["no_wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        last = None
        while time.monotonic() < deadline:
            job.refresh_from_db()
            progress = (job.state, job.progress_done, job.progress_total)
            if progress != last:
                self.stdout.write(f"  {job.get_state_display()}: {job.progress_done}/{job.progress_total}")
                last = progress
            if job.state == JobState.SUCCEEDED:
                self.stdout.write(self.style.SUCCESS(f"Corte {job.result.get('snapshot')} publicado."))
                return
            if job.state == JobState.FAILED:
                raise CommandError(f"El trabajo {job.pk} falló: {job.error}")
            time.sleep(0.5)
        raise CommandError(
            f"El trabajo {job.pk} no terminó en {options['timeout']} s; ¿hay trabajadores en la cola «statistics»?"
        )
