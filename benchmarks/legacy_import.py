"""Benchmark (legacy import, whole path): 62,700 rows from CSV and XLSX into PostgreSQL and SQLite.

A script to run by hand, not a test: it prints a table of figures and asserts nothing about time.
It writes the program's size (``tests.legacy.files.big_rows``, 62,700 valid, distinct rows) as

- a CSV (UTF-8 with BOM, semicolons, decimal commas), as Excel's «CSV UTF-8» saves it;
- an XLSX as Excel writes it: shared strings and date cells (``files.write_raw_xlsx``), read with
  the uploads' own limits (``legacy.reading.LIMITS``: it unpacks to some 55 MB, under their 100 MB cap).

Then, on PostgreSQL (a fresh database, ``harvest_bench_legacy``, made from a template database
``harvest_bench_legacy_tpl`` that is migrated and holds the reference fixtures ``alcaldias
program_years harvest_parameters`` plus the 1,800 colonias of ``files.big_colonias``) and on SQLite
(a temporary file copied from a template file made the same way), for each file:

  validate   ``import_file(dry_run=True)``: the upload checks, every row read and cleaned, the
             repeats within the file, and the checks against the (empty) database;
  import     ``import_file(dry_run=False)`` into empty tables: every row created, in one
             transaction, with the advisory lock and the audit rows;
  re-import  the same file again: every row found by its legacy folio, nothing changes.

In the same run, on PostgreSQL:

  COPY baseline  the physical limit: the CSV's 62,700 rows COPYed as text into a staging table,
                 then one INSERT … SELECT (casts, decimal commas, dates, the colonia joined by
                 name) into a plain table shaped like the main records, in one transaction;
  5-table COPY   the same COPY, then an INSERT … SELECT into each of the five tables the import
                 writes (applicants, dwellings, requests, installations, status changes, with the
                 installer organisations first), with all their indexes, foreign keys and checks:
                 what writing these rows into this schema costs the server at the least. The import
                 is shown against both;
  resource       django-import-export's default row-by-row engine with ``legacy.import_resource.
                 LegacyRowResource`` on the first 5,000 rows of the CSV (``import_data``, not dry),
                 extrapolated linearly to 62,700 rows and labelled as such (``--resource-rows 0``
                 skips it).

Every measurement runs in a fresh process, so its peak RSS (VmHWM from /proc) is its own; wall
seconds are from the call to its return (Django set up and the connection open before the clock).
The goals are the issue's: the validated CSV import on PostgreSQL under 6 s and within 4× of the
COPY baseline of the same run, the XLSX under 10 s, every peak under 300 MB. The same limits are
shown for SQLite and for validate-only and re-import runs, for comparison.

Usage (from the project root; PostgreSQL on 127.0.0.1:5432 as postgres, trust auth):

    .venv/bin/python benchmarks/legacy_import.py
    .venv/bin/python benchmarks/legacy_import.py --rows 10000 --resource-rows 1000
    .venv/bin/python benchmarks/legacy_import.py --only postgresql --formats csv --profile var/prof

``--profile DIR`` writes a cProfile of each import run into DIR (the timings then include the
profiler's overhead). The PostgreSQL databases are left in place; the SQLite files are removed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "harvest_bench_legacy"
FIXTURES = ["alcaldias", "program_years", "harvest_parameters"]
GOAL_CSV_S = 6.0
GOAL_XLSX_S = 10.0
GOAL_COPY_RATIO = 4.0
GOAL_PEAK_MB = 300
# The CSV's cells as text, what both baselines COPY into.
STAGING_SQL = """
CREATE TABLE bench_staging (
    folio_legado text, anio_programa text, nombre text, primer_apellido text, segundo_apellido text,
    curp text, sexo text, jefa_de_hogar text, telefono text, calle_numero text, colonia text,
    alcaldia text, codigo_postal text, latitud text, longitud text, material_techo text,
    superficie_techo_m2 text, capacidad_tanque_l text, fecha_instalacion text, instaladora text,
    modalidad text
);
"""
# Tables of the main records, plain: what the COPY baseline writes into.
BASELINE_SQL = (
    STAGING_SQL
    + """
CREATE TABLE bench_record (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    legacy_folio varchar(40) NOT NULL UNIQUE,
    program_year smallint NOT NULL,
    first_name varchar(80) NOT NULL,
    first_surname varchar(80) NOT NULL,
    second_surname varchar(80) NOT NULL,
    curp varchar(18) NOT NULL,
    sex varchar(1) NOT NULL,
    woman_headed_household boolean NOT NULL,
    phone varchar(15) NOT NULL,
    street_address varchar(200) NOT NULL,
    colonia_id bigint NOT NULL,
    postal_code varchar(5) NOT NULL,
    latitude numeric(9, 6),
    longitude numeric(9, 6),
    roof_material varchar(20) NOT NULL,
    roof_area_m2 numeric(7, 2) NOT NULL,
    tank_capacity_litres integer NOT NULL,
    installed_on date NOT NULL,
    installer_name varchar(160) NOT NULL,
    modality varchar(20) NOT NULL
);
"""
)
BASELINE_MERGE = """
INSERT INTO bench_record (
    created_at, legacy_folio, program_year, first_name, first_surname, second_surname, curp, sex,
    woman_headed_household, phone, street_address, colonia_id, postal_code, latitude, longitude,
    roof_material, roof_area_m2, tank_capacity_litres, installed_on, installer_name, modality
)
SELECT now(), s.folio_legado, s.anio_programa::smallint, s.nombre, s.primer_apellido, coalesce(s.segundo_apellido, ''),
    s.curp, left(s.sexo, 1), s.jefa_de_hogar IN ('Sí', 'Si', '1', 'X'), coalesce(s.telefono, ''), s.calle_numero, c.id,
    coalesce(s.codigo_postal, ''), replace(s.latitud, ',', '.')::numeric(9, 6), replace(s.longitud, ',', '.')::numeric(9, 6),
    s.material_techo, replace(s.superficie_techo_m2, ',', '.')::numeric(7, 2), s.capacidad_tanque_l::integer,
    CASE WHEN s.fecha_instalacion LIKE '__/__/____' THEN to_date(s.fecha_instalacion, 'DD/MM/YYYY')
         ELSE s.fecha_instalacion::date END,
    coalesce(s.instaladora, ''), s.modalidad
FROM bench_staging s
JOIN installations_colonia c ON c.name = s.colonia
"""

# The same baseline into this schema's own five tables, with their 32 indexes, 8 foreign keys and
# checks: the staging rows get their ids from the tables' sequences, then one INSERT … SELECT per
# table (the installer organisations first). Values are cast and mapped in SQL as far as these rows
# need (no validation, no normalisation beyond the benchmark's own spellings); the columns the import
# leaves at their defaults get the same literal values.
SCHEMA_BASELINE = """
CREATE TEMP TABLE bench_rows AS
SELECT s.*, c.id AS colonia_id,
    nextval(pg_get_serial_sequence('installations_applicant', 'id')) AS applicant_id,
    nextval(pg_get_serial_sequence('installations_dwelling', 'id')) AS dwelling_id,
    nextval(pg_get_serial_sequence('installations_application', 'id')) AS application_id,
    CASE WHEN s.fecha_instalacion LIKE '__/__/____' THEN to_date(s.fecha_instalacion, 'DD/MM/YYYY')
         ELSE s.fecha_instalacion::date END AS installed_on
FROM bench_staging s JOIN installations_colonia c ON c.name = s.colonia;

INSERT INTO installations_installerorganisation (name, rfc)
SELECT DISTINCT coalesce(nullif(instaladora, ''), 'Sin dato (registro legado)'), '' FROM bench_rows;

INSERT INTO installations_applicant (id, created_at, updated_at, curp, first_name, first_surname, second_surname, sex,
    birth_date, phone, woman_headed_household, email, is_household_head, single_mother, older_adult, disability, indigenous)
SELECT applicant_id, now(), now(), curp, nombre, primer_apellido, coalesce(segundo_apellido, ''), left(sexo, 1),
    to_date(CASE WHEN substr(curp, 17, 1) ~ '[0-9]' THEN '19' ELSE '20' END || substr(curp, 5, 6), 'YYYYMMDD'),
    coalesce(telefono, ''), jefa_de_hogar IN ('Sí', 'Si', '1', 'X'), '', false, false, false, false, false
FROM bench_rows;

INSERT INTO installations_dwelling (id, created_at, updated_at, colonia_id, street_address, postal_code, latitude, longitude,
    roof_material, roof_area_m2, water_supply, tenure_evidence, existing_storage_litres)
SELECT dwelling_id, now(), now(), colonia_id, calle_numero, coalesce(codigo_postal, ''),
    replace(latitud, ',', '.')::numeric(9, 6), replace(longitud, ',', '.')::numeric(9, 6),
    CASE WHEN material_techo ILIKE '%concreto%' THEN 'concreto' WHEN material_techo ILIKE 'l_mina met_lica' THEN 'lamina_metalica'
         ELSE 'fibrocemento' END,
    replace(superficie_techo_m2, ',', '.')::numeric(7, 2), 'sin_dato', '', 0
FROM bench_rows;

INSERT INTO installations_application (id, created_at, updated_at, folio, legacy_folio, verification_code_hash, applicant_id,
    dwelling_id, program_year_id, modality, channel, privacy_consent_at, status, status_changed_at, version)
SELECT application_id, now(), now(), upper(substr(md5(folio_legado), 1, 12)), folio_legado, md5(curp), applicant_id,
    dwelling_id, anio_programa::smallint,
    CASE WHEN modalidad ILIKE '%total%' THEN 'total_subsidy' ELSE 'partial_subsidy_50' END, 'legado',
    installed_on + time '12:00' AT TIME ZONE 'America/Mexico_City', 'active',
    installed_on + time '12:00' AT TIME ZONE 'America/Mexico_City', 1
FROM bench_rows;

INSERT INTO installations_installation (created_at, updated_at, application_id, dwelling_id, installed_on, tank_capacity_litres,
    installer_id, funding_source, version)
SELECT now(), now(), r.application_id, r.dwelling_id, r.installed_on, r.capacidad_tanque_l::integer, i.id, 'sedema', 1
FROM bench_rows r
JOIN installations_installerorganisation i ON i.name = coalesce(nullif(r.instaladora, ''), 'Sin dato (registro legado)');

INSERT INTO installations_statuschange (application_id, from_status, to_status, changed_at, note)
SELECT application_id, '', 'active', installed_on + time '12:00' AT TIME ZONE 'America/Mexico_City', 'Importado de hoja legada'
FROM bench_rows;
"""


# --- In the child process ----------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harvest.settings.test")  # the parent only writes files
    import django

    django.setup()


def child_prepare(count_colonias: int) -> dict[str, Any]:
    """Migrate, load the fixtures and add the big colonias (into the database of DATABASE_URL)."""
    from django.core.management import call_command

    _django()
    from installations.models import Colonia
    from tests.legacy import files

    call_command("migrate", "--noinput", verbosity=0)
    call_command("loaddata", *FIXTURES, verbosity=0)
    colonias = files.big_colonias()[:count_colonias] if count_colonias else files.big_colonias()
    Colonia.objects.bulk_create([Colonia(pk=pk, alcaldia_id=code, name=name) for pk, code, name in colonias])
    return {"colonias": len(colonias)}


def child_import(path: str, dry_run: bool, profile: str) -> dict[str, Any]:
    """One ``import_file`` run: seconds, peak RSS and the report's counts."""
    _django()
    from django.db import connection

    from legacy.services import import_file

    connection.ensure_connection()
    profiler = cProfile.Profile() if profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    report = import_file(path, by=None, dry_run=dry_run)  # the uploads' own limits
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    counts = {name: getattr(report, name) for name in ("rows", "created", "updated", "unchanged")}
    errors = [error.as_dict() for error in report.errors[:3]]
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_rss_mb(), **counts, "errors": len(report.errors), "first": errors}


def child_copy(database_url: str, path: str) -> dict[str, Any]:
    """The COPY baseline: the CSV as text into a staging table, then one INSERT … SELECT."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_staging, bench_record")
        connection.execute(BASELINE_SQL)
        connection.commit()
        started, cpu_started = time.perf_counter(), time.process_time()
        with connection.cursor() as cursor:
            copy_sql = "COPY bench_staging FROM STDIN (FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'UTF8')"
            with open(path, "rb") as file, cursor.copy(copy_sql) as copy:
                file.read(3)  # the BOM: COPY would take it as part of the first header
                while block := file.read(1 << 16):
                    copy.write(block)
            cursor.execute(BASELINE_MERGE)
            merged = cursor.rowcount
        connection.commit()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        connection.execute("DROP TABLE bench_staging, bench_record")
        connection.commit()
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_rss_mb(), "rows": merged}


def child_copy_schema(database_url: str, path: str) -> dict[str, Any]:
    """The COPY baseline into this schema's own tables (a fresh copy of the template database)."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        connection.execute(STAGING_SQL)
        connection.commit()
        started, cpu_started = time.perf_counter(), time.process_time()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as the import checks them
            copy_sql = "COPY bench_staging FROM STDIN (FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'UTF8')"
            with open(path, "rb") as file, cursor.copy(copy_sql) as copy:
                file.read(3)  # the BOM
                while block := file.read(1 << 16):
                    copy.write(block)
            cursor.execute(SCHEMA_BASELINE)
            cursor.execute("SELECT count(*) FROM installations_application")
            (merged,) = cursor.fetchone()
        connection.commit()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_rss_mb(), "rows": merged}


def child_resource(path: str) -> dict[str, Any]:
    """django-import-export's default engine with the legacy row resource, on the given CSV."""
    _django()
    import tablib
    from django.db import connection

    from legacy.import_resource import LegacyRowResource

    connection.ensure_connection()
    with open(path, encoding="utf-8-sig") as file:
        dataset = tablib.Dataset().load(file.read(), format="csv", delimiter=";")
    started, cpu_started = time.perf_counter(), time.process_time()
    result = LegacyRowResource().import_data(dataset, dry_run=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    totals = dict(result.totals)
    return {"seconds": seconds, "cpu": cpu, "peak_mb": _peak_rss_mb(), "rows": dataset.height, "totals": totals}


# --- In the parent ---------------------------------------------------------------------------------------
def environment(database_url: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "harvest.settings.base",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": "memory://",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }


def child(database_url: str, *arguments: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment(database_url), check=False)  # noqa: S603
    if done.returncode:
        sys.exit(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def psql(database_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute(statement)


class Postgres:
    """A template database, migrated and loaded once, and a fresh copy of it per file."""

    def __init__(self) -> None:
        self.template = f"{SERVER}/{DATABASE}_tpl"
        self.url = f"{SERVER}/{DATABASE}"

    def prepare(self, colonias: int) -> None:
        psql(f"{SERVER}/postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
        psql(f"{SERVER}/postgres", f"DROP DATABASE IF EXISTS {DATABASE}_tpl")
        psql(f"{SERVER}/postgres", f"CREATE DATABASE {DATABASE}_tpl")
        child(self.template, "prepare", str(colonias))
        psql(self.template, "VACUUM ANALYZE")

    def fresh(self) -> str:
        psql(f"{SERVER}/postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
        psql(f"{SERVER}/postgres", f"CREATE DATABASE {DATABASE} TEMPLATE {DATABASE}_tpl")
        return self.url


class SQLite:
    def __init__(self, folder: Path) -> None:
        self.template = folder / "template.sqlite3"
        self.path = folder / "bench.sqlite3"

    def prepare(self, colonias: int) -> None:
        child(f"sqlite:///{self.template}", "prepare", str(colonias))

    def fresh(self) -> str:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)
        return f"sqlite:///{self.path}"


def excel_cells(row: list[Any]) -> list[Any]:
    """A row as Excel stores it: years, coordinates, areas and tanks as numbers, the date as a date cell."""
    from datetime import date
    from decimal import Decimal

    cells = list(row)
    cells[1], cells[17] = int(cells[1]), int(cells[17])
    cells[13], cells[14] = Decimal(cells[13]), Decimal(cells[14])
    cells[16] = Decimal(cells[16].replace(",", "."))
    day = cells[18]
    cells[18] = date(int(day[6:]), int(day[3:5]), int(day[:2])) if "/" in day else date.fromisoformat(day)
    return cells


def write_files(folder: Path, count: int, resource_rows: int) -> dict[str, Path]:
    _django()
    from legacy.reading import LIMITS
    from tests.legacy import files

    started = time.perf_counter()
    rows = list(files.big_rows(count))
    written = {
        "csv": files.write_csv(folder / "padron.csv", rows, delimiter=";", encoding="utf-8-sig"),
        "xlsx": files.write_raw_xlsx(folder / "padron.xlsx", [excel_cells(row) for row in rows]),
    }
    if resource_rows > 0:
        first = rows[:resource_rows]
        written["resource"] = files.write_csv(folder / "padron-5000.csv", first, delimiter=";", encoding="utf-8-sig")
    print(f"files written in {time.perf_counter() - started:.1f} s: {count:,} rows", flush=True)
    with zipfile.ZipFile(written["xlsx"]) as archive:
        unpacked = sum(entry.file_size for entry in archive.infolist()) / 1024 / 1024
    cap = LIMITS.max_unpacked_bytes / 1024 / 1024
    print(
        f"XLSX: {written['xlsx'].stat().st_size / 1024 / 1024:.1f} MB, {unpacked:.1f} MB unpacked;"
        f" the uploads' cap is {cap:.0f} MB" + (" (the import will refuse it)" if unpacked > cap else ""),
        flush=True,
    )
    return written


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def line(label: str, figures: dict[str, Any], goal: str, met: bool | None, note: str = "") -> None:
    seconds = f"{figures['seconds']:7.2f}"
    cpu = f"{figures.get('cpu', 0):7.2f}"
    peak = f"{figures['peak_mb']:6.0f}"
    time_goal = f"{goal:<22}" if goal else " " * 22
    memory = f"< {GOAL_PEAK_MB} MB {verdict(figures['peak_mb'] < GOAL_PEAK_MB)}"
    status = "" if met is None else verdict(met)
    print(f"{label:<34} {seconds} {cpu} {peak} MB   {time_goal} {status:<7} {memory:<18} {note}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=62_700)
    parser.add_argument("--resource-rows", type=int, default=5_000)
    parser.add_argument("--only", choices=["postgresql", "sqlite"], help="one database only")
    parser.add_argument("--formats", nargs="+", choices=["csv", "xlsx"], default=["csv", "xlsx"])
    parser.add_argument("--profile", type=Path, help="write a cProfile of each import into this folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        kind, *rest = arguments.child
        if kind == "prepare":
            result = child_prepare(int(rest[0]))
        elif kind == "import":
            result = child_import(rest[0], rest[1] == "dry", rest[2] if len(rest) > 2 else "")
        elif kind == "copy":
            result = child_copy(os.environ["DATABASE_URL"], rest[0])
        elif kind == "copy-schema":
            result = child_copy_schema(os.environ["DATABASE_URL"], rest[0])
        else:
            result = child_resource(rest[0])
        print(json.dumps(result, default=str))
        return

    scale = arguments.rows / 62_700
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as temporary:
        folder = Path(temporary)
        written = write_files(folder, arguments.rows, arguments.resource_rows)
        databases: list[tuple[str, Any]] = []
        if arguments.only != "sqlite":
            databases.append(("PostgreSQL", Postgres()))
        if arguments.only != "postgresql":
            databases.append(("SQLite", SQLite(folder)))
        for name, database in databases:
            started = time.perf_counter()
            database.prepare(0)
            print(f"{name}: template database ready in {time.perf_counter() - started:.1f} s", flush=True)
        if arguments.profile:
            arguments.profile.mkdir(parents=True, exist_ok=True)

        print()
        heading = f"{'measurement':<34} {'wall s':>7} {'CPU s':>7} {'peak RSS':>9}   {'time goal':<22} {'':<7}"
        print(f"{heading} {'memory goal':<18} notes")
        copy_seconds = schema_seconds = None
        if arguments.only != "sqlite":
            postgres = databases[0][1]
            copy = child(postgres.fresh(), "copy", str(written["csv"]))
            copy_seconds = copy["seconds"]
            line("PostgreSQL COPY + INSERT…SELECT", copy, "", None, f"{copy['rows']:,} rows (the physical limit)")
            schema = child(postgres.fresh(), "copy-schema", str(written["csv"]))
            schema_seconds = schema["seconds"]
            line("  the same into the 5 real tables", schema, "", None, f"{schema['rows']:,} rows (this schema's limit)")
        for name, database in databases:
            for file_format in arguments.formats:
                path = str(written[file_format])
                limit = (GOAL_CSV_S if file_format == "csv" else GOAL_XLSX_S) * scale
                url = database.fresh()
                for step, mode in (("validate", "dry"), ("import", "real"), ("re-import", "real")):
                    profile = str(arguments.profile / f"{name}-{file_format}-{step}.prof") if arguments.profile else ""
                    figures = child(url, "import", path, mode, profile)
                    goal = f"< {limit:.1f} s"
                    met = figures["seconds"] < limit
                    if name == "PostgreSQL" and file_format == "csv" and step == "import" and copy_seconds:
                        ratio = figures["seconds"] / copy_seconds
                        goal += f", ≤ {GOAL_COPY_RATIO:.0f}× COPY ({ratio:.1f}×)"
                        met = met and ratio <= GOAL_COPY_RATIO
                        counts_note = f"; {figures['seconds'] / schema_seconds:.1f}× the 5-table COPY"
                    else:
                        counts_note = ""
                    counts = (
                        f"rows {figures['rows']:,}: +{figures['created']:,} ~{figures['updated']:,} ={figures['unchanged']:,}"
                    )
                    counts += counts_note
                    if figures["errors"]:
                        counts += f"; {figures['errors']} ERRORS {figures['first']}"
                    line(f"{name} {file_format.upper()} {step}", figures, goal, met, counts)
        if arguments.only != "sqlite" and arguments.resource_rows > 0:
            url = databases[0][1].fresh()
            figures = child(url, "resource", str(written["resource"]))
            rows = figures["rows"]
            note = f"{rows:,} rows, totals {figures['totals']}"
            line(f"django-import-export, {rows:,} rows", figures, "", None, note)
            factor = arguments.rows / rows
            extrapolated = {"seconds": figures["seconds"] * factor, "cpu": figures["cpu"] * factor, "peak_mb": figures["peak_mb"]}
            line(f"  extrapolated to {arguments.rows:,} rows", extrapolated, "", None, "linear extrapolation, not measured")
        print()
        print("Goals (issue 5): CSV on PostgreSQL < 6 s and ≤ 4× COPY; XLSX < 10 s; peak < 300 MB;")
        print("the same time limits are shown for SQLite and for validate and re-import runs, for comparison.")


if __name__ == "__main__":
    main()
