"""Benchmark (exports): the program's 62,700 systems exported as CSV and XLSX, on SQLite and PostgreSQL.

A script to run by hand, not a test: it prints its figures and asserts nothing. For each database it
seeds the demo program (``seed_demo --installations 62700``, skipped with --reuse when the database
already holds that many systems), then runs each export in a fresh process, through
``legacy.exports.export_build`` as the API does (query, masking, escaping, the file, the log row):

  installations and requests × CSV and XLSX × masked (the coordinator "coordinadora") and full
  personal data (the superuser "admin"), and the padrón as CSV and XLSX.

With --admin (or --admin-only) it also times the admin's path for the masked installations: the
django-import-export resource builds a tablib Dataset in memory, then CSV through tablib and XLSX
through ``legacy.resources.SpreadsheetXLSX``.

Each line: rows; best, median and worst of --runs runs (seconds, wall clock from the query to the
logged, complete file) and the best CPU time of this process (the database server's work on
PostgreSQL is not in it; on a busy machine it shows what the wall clock would be on an idle one);
file size; the highest peak RSS of the runs with its growth over the idle
process (``ru_maxrss``). Goal (issue): 62,700 rows in under 5 s.

Usage (from the project root; PostgreSQL on 127.0.0.1:5432 as postgres):

    .venv/bin/python benchmarks/legacy_export.py
    .venv/bin/python benchmarks/legacy_export.py --reuse --admin

Databases: /tmp/bench_export.sqlite3 and harvest_bench_export (dropped and created again unless --reuse).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = 62_700
SQLITE_PATH = Path("/tmp/bench_export.sqlite3")  # noqa: S108 -- a throwaway benchmark database, as asked
SQLITE_URL = f"sqlite:///{SQLITE_PATH}"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/harvest_bench_export"
CASES = [
    (kind, file_format, full)
    for kind in ("installations", "applications")
    for file_format in ("csv", "xlsx")
    for full in (False, True)
] + [("padron", "csv", False), ("padron", "xlsx", False)]


def environment(database_url: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "benchmark",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "harvest.settings.base",
    }


def seed(database_url: str, *, reuse: bool) -> None:
    env = environment(database_url)
    manage = [sys.executable, str(ROOT / "manage.py")]
    if reuse and _installations(env) == SIZE:
        print(f"  reusing the {SIZE:,} systems already there")
        analyze(database_url)
        return
    if database_url.startswith("sqlite"):
        SQLITE_PATH.unlink(missing_ok=True)
    else:
        base, name = database_url.rsplit("/", 1)
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", f"{base}/postgres", "-qc", sql], check=True)  # noqa: S603,S607
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env, cwd=ROOT)  # noqa: S603
    started = time.perf_counter()
    subprocess.run(  # noqa: S603
        [*manage, "seed_demo", "--installations", str(SIZE), "--seed", "2019", "--today", "2026-11-27", "-v0"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    print(f"  seeded {SIZE:,} systems in {time.perf_counter() - started:.1f} s")
    analyze(database_url)


def analyze(database_url: str) -> None:
    """Fresh planner statistics, as autovacuum would have them on a database that has been running a while."""
    if database_url.startswith("sqlite"):
        subprocess.run(["sqlite3", str(SQLITE_PATH), "ANALYZE;"], check=False)  # noqa: S603,S607
    else:
        subprocess.run(["psql", database_url, "-qc", "VACUUM ANALYZE"], check=True)  # noqa: S603,S607


def _installations(env: dict[str, str]) -> int:
    code = "from installations.models import Installation; print(Installation.objects.count())"
    try:
        out = subprocess.run(  # noqa: S603
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError:
        return -1
    return int(out.strip().splitlines()[-1])


def measure(kind: str, file_format: str, full: bool, admin_path: bool) -> dict[str, object]:
    """Runs inside the child process: one export, timed, with the process's peak memory."""
    import django

    django.setup()
    from installations.models import Application, Installation, User
    from legacy.exports import export_build
    from legacy.models import ExportLog

    user = User.objects.get(username="admin" if full else "coordinadora")
    model = {"installations": Installation, "applications": Application}.get(kind)
    queryset = model.objects.visible_to(user) if model else None
    justification = "Benchmark de exportación" if full else ""
    ExportLog.objects.exists()  # the connection is open before the clock starts
    idle_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    if admin_path:
        from import_export.formats.base_formats import CSV

        from legacy.resources import InstallationExportResource, SpreadsheetXLSX

        dataset = InstallationExportResource(user=user).export(queryset, export_format=file_format)
        data = (SpreadsheetXLSX() if file_format == "xlsx" else CSV()).export_data(dataset)
        size, rows = len(data), dataset.height
    else:
        export = export_build(
            user=user,
            kind=kind,
            file_format=file_format,
            queryset=queryset,
            full_personal_data=full,
            justification=justification,
        )
        export.file.seek(0, os.SEEK_END)
        size, rows = export.file.tell(), export.log.row_count
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "bytes": size,
        "peak_mib": peak_kib / 1024,
        "growth_mib": (peak_kib - idle_kib) / 1024,
    }


def run_case(database_url: str, kind: str, file_format: str, full: bool, *, runs: int, admin_path: bool = False) -> None:
    args = [sys.executable, __file__, "--child", kind, file_format, "full" if full else "masked"]
    if admin_path:
        args.append("admin")
    results = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603
            args, env=environment(database_url), cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = sorted(result["seconds"] for result in results)
    cpu = min(result["cpu_seconds"] for result in results)
    figures = max(results, key=lambda result: result["peak_mib"])
    label = f"{'admin ' if admin_path else ''}{kind} {file_format} {'full' if full else 'masked'}"
    print(
        f"  {label:<31} {figures['rows']:>7,} rows  best {seconds[0]:5.2f} s  median {statistics.median(seconds):5.2f} s  "
        f"worst {seconds[-1]:5.2f} s  (CPU best {cpu:5.2f} s)  {figures['bytes'] / 1e6:5.1f} MB  "
        f"peak RSS {figures['peak_mib']:6.1f} MiB (+{figures['growth_mib']:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep databases that already hold 62,700 systems")
    parser.add_argument("--admin", action="store_true", help="also time the admin's django-import-export path")
    parser.add_argument("--admin-only", action="store_true", help="time only the admin's path")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="runs per export (best, median and worst are shown)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        sys.path.insert(0, str(ROOT))
        kind, file_format, mode, *rest = options.child
        print(json.dumps(measure(kind, file_format, mode == "full", admin_path=rest == ["admin"])))
        return
    databases = [("SQLite", SQLITE_URL)] + ([] if options.sqlite_only else [("PostgreSQL", POSTGRES_URL)])
    for name, url in databases:
        print(f"{name} ({url})")
        seed(url, reuse=options.reuse)
        for kind, file_format, full in [] if options.admin_only else CASES:
            run_case(url, kind, file_format, full, runs=options.runs)
        if options.admin or options.admin_only:
            for file_format in ("csv", "xlsx"):
                run_case(url, "installations", file_format, False, runs=options.runs, admin_path=True)


if __name__ == "__main__":
    main()
