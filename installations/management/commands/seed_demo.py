"""``manage.py seed_demo``: build the deterministic demo program (demo data only)."""

import time
import uuid
from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audit.context import audit_context
from installations.demo import demo_data_delete, demo_data_exists, seed_demo


class Command(BaseCommand):
    help = "Crea un programa de demostración determinista: colonias, hogares, solicitudes en cada estado y sistemas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--installations", type=int, default=3000, help="Sistemas instalados (62700 = tamaño real).")
        parser.add_argument("--pipeline", type=int, default=None, help="Solicitudes en curso (por omisión, 1 de cada 20).")
        parser.add_argument("--seed", type=int, default=2019, help="Semilla: la misma semilla da los mismos datos.")
        parser.add_argument("--today", type=date.fromisoformat, default=None, help="Fecha de referencia AAAA-MM-DD.")
        parser.add_argument("--reset", action="store_true", help="Borra antes las solicitudes y colonias de demostración.")
        parser.add_argument("--if-empty", action="store_true", help="No hace nada si ya hay datos.")

    def handle(self, *args: object, **options: object) -> None:
        installations = options["installations"]
        if not isinstance(installations, int) or installations < 0 or installations > 2_000_000:
            raise CommandError("--installations debe ser un número entre 0 y 2,000,000.")
        pipeline = options["pipeline"]
        if pipeline is not None and (not isinstance(pipeline, int) or pipeline < 0):
            raise CommandError("--pipeline debe ser un número positivo.")
        replacing = demo_data_exists()
        if replacing:
            if options["if_empty"]:
                self.stdout.write("Ya hay datos; no se crean datos de demostración.")
                return
            if not options["reset"]:
                raise CommandError("La base ya tiene solicitudes; use --reset para reemplazarlas por la demostración.")
        today = options["today"] or timezone.localdate()
        # One id for the run, so its audit rows (the reset's and the import's) read together.
        with audit_context(request_id=f"seed-demo-{uuid.uuid4().hex}"):
            if replacing:
                demo_data_delete()
            started = time.perf_counter()
            summary = seed_demo(installations=installations, seed=options["seed"], today=today, pipeline=pipeline)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - started
        if options["verbosity"] == 0:  # type: ignore[comparison-overlap]
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Demostración lista en {elapsed:.1f} s: {summary.installations:,} sistemas, "
                f"{summary.applications:,} solicitudes, {summary.colonias:,} colonias, "
                f"{summary.status_changes:,} cambios de estado, {summary.maintenance_visits:,} mantenimientos."
            )
        )
        self.stdout.write(f"Usuarios de demostración (contraseña {settings.DEMO_PASSWORD!r}): tecnico, coordinadora, admin.")
