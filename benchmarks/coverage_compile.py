"""Benchmark (coverage compile): full and incremental compiles on real workers, against a GROUPING SETS baseline.

A script to run by hand, not a test: it prints its figures and asserts nothing about time. For each
size given, on PostgreSQL:

  1. seed: a fresh database (dropped and created again) is migrated, loaded with the reference
     fixtures and seeded with ``seed_demo`` (COPY), then VACUUM ANALYZE'd; each step is timed.
     With --reuse a database that already holds that many installations is used as it is.
  2. baseline: one hand-written statement over applications ⋈ applicants ⋈ dwellings ⋈ colonias
     with GROUPING SETS for the counts by alcaldía × sex × modality × status and their five
     roll-ups (alcaldía; alcaldía × sex / × modality / × status; the whole city). Best of 3.
     Then the coverage facts (one row per request, derived from seven tables) are rebuilt from
     scratch in this process, twice: the step a compile takes once a day, after deletions or
     reference-data edits, or when asked.
  3. full compile: a real worker (``celery -A harvest worker --concurrency=2 -Q statistics,default
     --pool=prefork`` against the database and Redis) takes ``coverage_refresh_request(by=None)``,
     published by the outbox as in production. Wall clock from the request to the published
     snapshot (the job seen succeeded), --runs times. Before each run the peak RSS (VmHWM) of each
     pool child is reset (``/proc/<pid>/clear_refs``), and read after it, so the figure is per child
     and per run. The facts are in step (synced: nothing changed); then twice more with
     ``rebuild_facts=True``, the compile deriving every request's facts again first.
  4. merge alone: an incremental snapshot with nothing changed (every part copied from the base),
     merged in this process; then the same merge's steps read again (parts loaded, build_scopes).
  5. inline compile: ``coverage_compile_inline`` in this process (one core), with its peak RSS.
  6. incremental: 1,000 dwellings change (occupants ± 1 and updated_at = now(), one UPDATE as a
     bulk edit would do), either all in the largest alcaldía or spread over the city, then
     ``coverage_refresh_request(by=None, incremental=True)`` through the worker, timed request →
     published. The changed-since check looks back WATERMARK_MARGIN (1 minute) before the base's
     watermark, so before each such run the script waits until the previous run's rows are older
     than that and rebases with an inline full compile (counted in step 5's figures).

Before measuring, rows that seed_demo dated later than now (today's steps at fixed hours) are moved
to yesterday, or every incremental compile would find them changed.

With two sizes or more it ends with each figure's ratio between the smallest and the largest size.

Usage (from the project root; PostgreSQL on 127.0.0.1:5432 as postgres, Redis on 127.0.0.1:6379):

    .venv/bin/python benchmarks/coverage_compile.py --installations 62700
    .venv/bin/python benchmarks/coverage_compile.py --installations 62700 1000000 --reuse
    .venv/bin/python benchmarks/coverage_compile.py --installations 1000000 --reuse --runs 5 --json var/cov.json

Databases: harvest_bench_cov_<N> (or --database-url, for one size); Redis DB 12 (--broker-url),
flushed at the start. The databases are left in place. Seeding 1,000,000 installations takes about
ten minutes and some 11 GB of memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
CHANGED_ROWS = 1_000
FIXTURES = ["alcaldias", "program_years", "harvest_parameters"]
POLL_S = 0.02


@dataclass
class Run:
    wall_s: float
    begin_s: float = 0.0  # request → snapshot created (outbox, broker, worker picks it up, begin)
    build_s: float = 0.0  # snapshot created → published (parts and merge), from the database's clocks
    parts: int = 0
    parts_s: list[float] = field(default_factory=list)
    peak_mb: dict[int, float] = field(default_factory=dict)  # pool child pid → VmHWM
    recomputed: list[str] = field(default_factory=list)
    source_rows: int = 0


@dataclass
class Figures:
    installations: int
    applications: int = 0
    database: str = ""
    future_rows: int = 0
    seed: dict[str, float] = field(default_factory=dict)
    baseline_s: list[float] = field(default_factory=list)
    baseline_rows: int = 0
    facts_rebuild_s: list[float] = field(default_factory=list)
    full: list[Run] = field(default_factory=list)
    full_rebuilt: list[Run] = field(default_factory=list)
    worker_idle_mb: dict[int, float] = field(default_factory=dict)
    merge_s: float = 0.0
    merge_steps: dict[str, float] = field(default_factory=dict)
    slices: int = 0
    inline_s: list[float] = field(default_factory=list)
    inline_peak_mb: float = 0.0
    incremental: dict[str, list[Run]] = field(default_factory=dict)


# --- Set-up ---------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--installations", type=int, nargs="+", default=[62_700, 1_000_000])
    parser.add_argument("--database-url", default="", help="one size only; default harvest_bench_cov_<N> on 127.0.0.1")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--reuse", action="store_true", help="skip seeding when the database already holds N installations")
    parser.add_argument("--seed", type=int, default=2019, help="seed_demo --seed")
    parser.add_argument("--runs", type=int, default=3, help="full compiles through the worker (and baseline runs)")
    parser.add_argument("--incremental-runs", type=int, default=3, help="incremental compiles per variant")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if args.database_url and len(args.installations) > 1:
        parser.error("--database-url names one database: give one --installations size")
    return args


def database_url(args: argparse.Namespace, size: int) -> str:
    return args.database_url or f"{SERVER}/harvest_bench_cov_{size}"


def environment(url: str, broker: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key")
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "harvest.settings.base",
            "DATABASE_URL": url,
            "CELERY_BROKER_URL": broker,
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    return env


def psql(url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def server_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        sys.exit(f"PostgreSQL only (COPY, GROUPING SETS), not {parts.scheme!r}")
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


def installations_in(url: str) -> int | None:
    server, name = server_of(url)
    if not psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):  # noqa: S608 -- our own name
        return None
    try:
        return psql(url, "SELECT COUNT(*) FROM installations_installation")[0][0]
    except Exception:  # not migrated yet
        return None


def manage(env: dict[str, str], *arguments: str) -> tuple[str, float]:
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *arguments], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return completed.stdout, time.perf_counter() - started


def seed(url: str, env: dict[str, str], size: int, seed_number: int) -> dict[str, float]:
    """A fresh database with ``size`` installations; the seconds of each step."""
    server, name = server_of(url)
    print(f"[{size:,}] dropping and creating {name}", flush=True)
    psql(server, f'DROP DATABASE IF EXISTS "{name}"')
    psql(server, f'CREATE DATABASE "{name}"')
    timings: dict[str, float] = {}
    _out, timings["migrate_s"] = manage(env, "migrate", "--noinput", "-v0")
    _out, timings["fixtures_s"] = manage(env, "loaddata", *FIXTURES, "-v0")
    print(f"[{size:,}] seed_demo --installations {size} --seed {seed_number}", flush=True)
    out, timings["seed_s"] = manage(env, "seed_demo", "--installations", str(size), "--seed", str(seed_number))
    # Peak RSS of the biggest child so far (seed_demo builds every row in memory before COPY).
    timings["seed_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    own = re.search(r"lista en ([\d.]+) s", out)
    if own:
        timings["seed_command_s"] = float(own.group(1))
    print(f"[{size:,}] {out.strip().splitlines()[0] if out.strip() else ''}", flush=True)
    started = time.perf_counter()
    psql(url, "VACUUM (ANALYZE)")
    timings["vacuum_analyze_s"] = time.perf_counter() - started
    return timings


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def django_switch(url: str) -> None:
    """Point this process's Django at another database (several sizes in one run)."""
    import environ
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict.update(
        {k: v for k, v in environ.Env.db_url_config(url).items() if k in {"NAME", "HOST", "PORT", "USER", "PASSWORD"}}
    )


# --- Memory ---------------------------------------------------------------------------------------
def proc_status(pid: int, key: str) -> float:
    """A /proc/<pid>/status figure in MB (VmHWM: peak resident set; VmRSS: resident now)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_reset(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(set(found))


# --- Worker ---------------------------------------------------------------------------------------
class Worker:
    def __init__(self, env: dict[str, str], concurrency: int, log: Path) -> None:
        self.log = log
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "harvest",
            "worker",
            f"--concurrency={concurrency}",
            "-Q",
            "statistics,default",
            "--pool=prefork",
            "-l",
            "info",
            "-n",
            f"bench-coverage-{os.getpid()}@%h",
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603
                command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the worker exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            if re.search(r"\bready\.", log.read_text(errors="replace")) and len(self.pool()) >= concurrency:
                return
            time.sleep(0.2)
        self.stop()
        sys.exit(f"the worker was not ready within 90 s; see {log}")

    def pool(self) -> list[int]:
        return children(self.process.pid)

    def peaks_reset(self) -> None:
        for pid in self.pool():
            peak_reset(pid)

    def peaks(self) -> dict[int, float]:
        return {pid: proc_status(pid, "VmHWM") for pid in self.pool()}

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # warm shutdown: the pool finishes and exits
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- Measurements -----------------------------------------------------------------------------------
def baseline_sql() -> str:
    from django.db import connection

    from installations.models import Applicant, Application, Colonia, Dwelling

    def table(model: type) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    return f"""
SELECT c.alcaldia_id, p.sex, a.modality, a.status, COUNT(*)
FROM {table(Application)} a
JOIN {table(Applicant)} p ON p.id = a.applicant_id
JOIN {table(Dwelling)} d ON d.id = a.dwelling_id
JOIN {table(Colonia)} c ON c.id = d.colonia_id
GROUP BY GROUPING SETS (
  (c.alcaldia_id, p.sex, a.modality, a.status),
  (c.alcaldia_id),
  (c.alcaldia_id, p.sex),
  (c.alcaldia_id, a.modality),
  (c.alcaldia_id, a.status),
  ()
)"""  # noqa: S608 -- table names from the models


def baseline(runs: int) -> tuple[list[float], int]:
    from django.db import connection

    sql, times, rows = baseline_sql(), [], 0
    with connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(sql)
            rows = len(cursor.fetchall())
            times.append(time.perf_counter() - started)
    return times, rows


def future_rows_clamp() -> int:
    """Move rows dated later than now to yesterday; returns how many there were.

    seed_demo dates today's steps at fixed hours (up to 19:00), so right after seeding some rows
    seem to change in the future: every incremental compile would recompute their alcaldías.
    """
    from django.db import connection

    from installations.models import Applicant, Application, Dwelling, Installation, MaintenanceVisit, TechnicalVisit

    moved = 0
    with connection.cursor() as cursor:
        for model in (Applicant, Application, Dwelling, Installation, MaintenanceVisit, TechnicalVisit):
            cursor.execute(
                f"UPDATE {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608 -- table names from the models
                "SET updated_at = now() - interval '1 day' WHERE updated_at > now()"
            )
            moved += cursor.rowcount
    return moved


def facts_rebuild(runs: int) -> list[float]:
    """The coverage facts derived again from the seven source tables, in this process (one statement)."""
    from coverage.facts import facts_sync

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        facts_sync(rebuild=True)
        times.append(time.perf_counter() - started)
    return times


def jobs_clear() -> None:
    """Fail coverage jobs left queued or running by an interrupted run, so a new one can start."""
    from coverage.services import COVERAGE_LANE
    from worker.jobs import job_fail
    from worker.models import ACTIVE_JOB_STATES, Job

    for pk in Job.objects.filter(lane=COVERAGE_LANE, state__in=ACTIVE_JOB_STATES).values_list("pk", flat=True):
        job_fail(pk, error="benchmarks/coverage_compile.py: left over from an interrupted run")


def through_worker(worker: Worker, *, incremental: bool, rebuild_facts: bool = False) -> Run:
    from coverage.models import CoverageSnapshot
    from coverage.services import coverage_refresh_request
    from worker.models import Job, JobState

    worker.peaks_reset()
    requested_at = time.time()
    started = time.perf_counter()
    job, created = coverage_refresh_request(by=None, incremental=incremental, rebuild_facts=rebuild_facts)  # publishes on commit
    if not created:
        sys.exit(f"a coverage job was already active: {job}")
    deadline = time.monotonic() + 900
    while True:
        state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
        if state == JobState.SUCCEEDED:
            break
        if state == JobState.FAILED or time.monotonic() > deadline:
            worker.stop()
            sys.exit(f"job {job.pk} {state}: {Job.objects.get(pk=job.pk).error} (see {worker.log})")
        time.sleep(POLL_S)
    wall = time.perf_counter() - started
    snapshot = CoverageSnapshot.objects.get(job_id=job.pk)
    computed = list(snapshot.parts.filter(computed_for=snapshot).values_list("duration_ms", flat=True))
    return Run(
        wall_s=wall,
        begin_s=snapshot.started_at.timestamp() - requested_at,
        build_s=(snapshot.published_at - snapshot.started_at).total_seconds(),
        parts=len(computed),
        parts_s=sorted((ms / 1000 for ms in computed), reverse=True),
        peak_mb=worker.peaks(),
        recomputed=snapshot.parameters["recomputed"],
        source_rows=snapshot.source_rows,
    )


def merge_alone() -> tuple[float, dict[str, float], int]:
    """Merge an incremental snapshot whose parts are all copied, in this process; then time its steps again."""
    from coverage.models import CoverageSlice, CoverageSnapshot
    from coverage.reshape import PartInput, build_scopes
    from coverage.services import COVERAGE_LANE, coverage_compile_begin, coverage_merge, coverage_part_compute
    from installations.models import Alcaldia, Colonia, Modality, ProgramYear
    from worker.jobs import job_create
    from worker.models import JobKind

    job, _created = job_create(kind=JobKind.COVERAGE_INCREMENTAL, lane=COVERAGE_LANE, by=None)  # not queued
    plan = coverage_compile_begin(job.pk)
    for alcaldia in plan.alcaldias_to_compute:  # none, unless rows changed within the watermark margin
        coverage_part_compute(plan.snapshot_id, alcaldia)
    started = time.perf_counter()
    coverage_merge(plan.snapshot_id)
    merged = time.perf_counter() - started

    snapshot = CoverageSnapshot.objects.get(pk=plan.snapshot_id)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    parts = list(snapshot.parts.all())
    steps["load_parts_s"] = time.perf_counter() - started
    started = time.perf_counter()
    years = dict(ProgramYear.objects.values_list("year", "target_systems"))
    scopes = build_scopes(
        [PartInput(alcaldia_id=p.alcaldia_id, cube=p.cube, monthly=p.monthly) for p in parts],
        years=sorted(years),
        targets=years,
        modalities=list(Modality.values),
        alcaldia_names=dict(Alcaldia.objects.values_list("cvegeo", "name")),
        colonia_names=dict(Colonia.objects.values_list("id", "name")),
    )
    steps["build_scopes_s"] = time.perf_counter() - started
    steps["write_and_publish_s"] = max(0.0, merged - steps["load_parts_s"] - steps["build_scopes_s"])
    steps["cube_rows"] = sum(len(p.cube.get("rows", [])) for p in parts)
    steps["slices_json_mb"] = sum(len(json.dumps(s.figures)) for s in scopes) / 1e6
    return merged, steps, CoverageSlice.objects.filter(snapshot=snapshot).count()


def inline_compile() -> float:
    from coverage.services import COVERAGE_LANE, coverage_compile_inline
    from worker.jobs import job_create
    from worker.models import JobKind

    job, _created = job_create(kind=JobKind.COVERAGE_FULL, lane=COVERAGE_LANE, by=None)  # not queued: run here
    started = time.perf_counter()
    coverage_compile_inline(job)
    return time.perf_counter() - started


def largest_alcaldia() -> str:
    from django.db.models import Count

    from installations.models import Application

    return (
        Application.objects.values("dwelling__colonia__alcaldia_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("dwelling__colonia__alcaldia_id", flat=True)
        .first()
    )


def change_dwellings(*, alcaldia: str | None, salt: int) -> float:
    """1,000 dwellings (with a request) edited: occupants ± 1 and updated_at now. Returns the time of the change."""
    from django.db import connection
    from django.db.models import Case, F, When
    from django.utils import timezone

    from installations.models import Application, Colonia, Dwelling

    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT d.id FROM {Dwelling._meta.db_table} d
            JOIN {Colonia._meta.db_table} c ON c.id = d.colonia_id
            WHERE (CAST(%(alcaldia)s AS text) IS NULL OR c.alcaldia_id = %(alcaldia)s)
              AND EXISTS (SELECT 1 FROM {Application._meta.db_table} a WHERE a.dwelling_id = d.id)
            ORDER BY md5(d.id::text || %(salt)s) LIMIT {CHANGED_ROWS}""",  # noqa: S608 -- table names from the models
            {"alcaldia": alcaldia, "salt": str(salt)},
        )
        ids = [row[0] for row in cursor.fetchall()]
    now = timezone.now()
    Dwelling.objects.filter(pk__in=ids).update(
        occupants=Case(When(occupants__lt=60, then=F("occupants") + 1), default=F("occupants") - 1), updated_at=now
    )
    return time.time()


# --- One size -------------------------------------------------------------------------------------------
def measure(args: argparse.Namespace, size: int, first: bool) -> Figures:
    from django.db import connection

    url = database_url(args, size)
    env = environment(url, args.broker_url)
    figures = Figures(installations=size, database=server_of(url)[1])
    present = installations_in(url)
    if args.reuse and present == size:
        print(f"[{size:,}] reusing {figures.database} ({present:,} installations)", flush=True)
    else:
        if args.reuse:
            print(f"[{size:,}] {figures.database} holds {present} installations, not {size:,}: seeding", flush=True)
        figures.seed = seed(url, env, size, args.seed)
    if first:
        django_setup(env)
    else:
        django_switch(url)

    from coverage.facts import WATERMARK_MARGIN
    from installations.models import Application

    figures.applications = Application.objects.count()
    figures.future_rows = future_rows_clamp()
    jobs_clear()
    print(f"[{size:,}] baseline GROUPING SETS x{args.runs}", flush=True)
    figures.baseline_s, figures.baseline_rows = baseline(args.runs)
    print(f"[{size:,}] coverage facts rebuilt from the source tables x{min(2, args.runs)}", flush=True)
    figures.facts_rebuild_s = facts_rebuild(min(2, args.runs))
    connection.close()

    import redis

    redis.Redis.from_url(args.broker_url).flushdb()  # our own DB number: stale messages of an interrupted run
    with tempfile.TemporaryDirectory(prefix="harvest-bench-cov-") as folder:
        worker = Worker(env, args.concurrency, Path(folder) / "worker.log")
        try:
            time.sleep(1)  # the worker's start-up tasks (outbox relay, job recovery) go first
            figures.worker_idle_mb = {pid: proc_status(pid, "VmRSS") for pid in worker.pool()}
            for number in range(args.runs):
                run = through_worker(worker, incremental=False)
                figures.full.append(run)
                print(f"[{size:,}] full compile {number + 1}: {run.wall_s:.2f} s, peaks {fmt_peaks(run.peak_mb)}", flush=True)
            for number in range(min(2, args.runs)):
                run = through_worker(worker, incremental=False, rebuild_facts=True)
                figures.full_rebuilt.append(run)
                print(
                    f"[{size:,}] full compile, facts rebuilt {number + 1}: {run.wall_s:.2f} s, peaks {fmt_peaks(run.peak_mb)}",
                    flush=True,
                )

            figures.merge_s, figures.merge_steps, figures.slices = merge_alone()
            print(f"[{size:,}] merge alone {figures.merge_s:.2f} s", flush=True)
            peak_reset(os.getpid())
            figures.inline_s.append(inline_compile())
            print(f"[{size:,}] inline compile {figures.inline_s[-1]:.2f} s", flush=True)

            alcaldia = largest_alcaldia()
            variants = {f"one alcaldía ({alcaldia})": alcaldia, "spread over the city": None}
            figures.incremental = {name: [] for name in variants}
            changed_at = 0.0
            for number in range(args.incremental_runs):
                for name, where in variants.items():
                    wait = changed_at + WATERMARK_MARGIN.total_seconds() + 2 - time.time()
                    if wait > 0:  # the base must be newer than the last changes by the margin
                        print(f"[{size:,}] waiting {wait:.0f} s for the watermark margin, then an inline rebase", flush=True)
                        time.sleep(wait)
                        figures.inline_s.append(inline_compile())
                    changed_at = change_dwellings(alcaldia=where, salt=number * 10 + len(name))
                    run = through_worker(worker, incremental=True)
                    figures.incremental[name].append(run)
                    print(
                        f"[{size:,}] incremental, {name} {number + 1}: {run.wall_s:.2f} s "
                        f"({len(run.recomputed)} alcaldías recomputed)",
                        flush=True,
                    )
            figures.inline_peak_mb = proc_status(os.getpid(), "VmHWM")
        finally:
            worker.stop()
    report(figures)
    return figures


# --- Report ---------------------------------------------------------------------------------------------
def fmt_peaks(peaks: dict[int, float]) -> str:
    return " / ".join(f"{mb:.0f} MB" for _pid, mb in sorted(peaks.items())) or "n/a"


def best_median(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{min(values):7.2f} {statistics.median(values):7.2f}   ({', '.join(f'{v:.2f}' for v in values)})"


def report(f: Figures) -> None:
    print()
    print(f"== {f.installations:,} installations, {f.applications:,} applications ({f.database}) ==")
    if f.seed:
        print(
            f"seed: migrate {f.seed['migrate_s']:.1f} s, fixtures {f.seed['fixtures_s']:.1f} s, "
            f"seed_demo {f.seed['seed_s']:.1f} s (its own timer {f.seed.get('seed_command_s', 0):.1f} s, "
            f"peak {f.seed['seed_peak_mb']:.0f} MB), VACUUM ANALYZE {f.seed['vacuum_analyze_s']:.1f} s"
        )
    else:
        print("seed: reused the database")
    if f.future_rows:
        print(f"rows seeded with updated_at later than now, moved to yesterday: {f.future_rows:,}")
    print(f"{'':44} {'best s':>7} {'median':>7}   (runs)")
    print(f"{'baseline: one GROUPING SETS statement':44} {best_median(f.baseline_s)}   [{f.baseline_rows} rows]")
    print(f"{'facts rebuilt from the 7 source tables':44} {best_median(f.facts_rebuild_s)}")
    print(f"{'full compile, 2 workers, request→published':44} {best_median([r.wall_s for r in f.full])}")
    print(f"{'full compile, facts rebuilt too':44} {best_median([r.wall_s for r in f.full_rebuilt])}")
    print(f"{'  of which request→begun (outbox, broker)':44} {best_median([r.begin_s for r in f.full])}")
    print(f"{'  of which begun→published (parts, merge)':44} {best_median([r.build_s for r in f.full])}")
    print(f"{'inline compile, this process':44} {best_median(f.inline_s)}")
    print(f"{'merge alone (all parts copied)':44} {f.merge_s:7.2f}")
    for name, runs in f.incremental.items():
        label = f"incremental, {CHANGED_ROWS:,} rows, {name}"
        print(f"{label:44} {best_median([r.wall_s for r in runs])}")
        if runs:
            print(f"{'  alcaldías recomputed':44} {', '.join(str(len(r.recomputed)) for r in runs)}")
    if f.full:
        best = min(f.full, key=lambda r: r.wall_s)
        print(
            f"baseline × 2 = {2 * min(f.baseline_s):.2f} s; best full compile / baseline = {best.wall_s / min(f.baseline_s):.2f}"
        )
        print(
            f"parts (best full run, s, slowest first): {', '.join(f'{s:.2f}' for s in best.parts_s)}; sum {sum(best.parts_s):.2f}"
        )
        for number, run in enumerate(f.full + f.full_rebuilt, 1):
            print(f"peak RSS per pool child, full run {number}: {fmt_peaks(run.peak_mb)}")
        print(f"pool children idle before the runs: {fmt_peaks(f.worker_idle_mb)}")
        peak = max(mb for r in f.full + f.full_rebuilt for mb in r.peak_mb.values())
        print(f"peak worker memory (max over children and runs): {peak:.0f} MB")
    for name, runs in f.incremental.items():
        if runs:
            print(f"incremental peaks ({name}): {max(mb for r in runs for mb in r.peak_mb.values()):.0f} MB")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in f.merge_steps.items())
    print(f"merge steps: {steps}; {f.slices} slices")
    print(f"this process's peak RSS (inline compiles, merge): {f.inline_peak_mb:.0f} MB")
    print()


def compare(small: Figures, large: Figures) -> None:
    rows = small.applications / large.applications if large.applications else 0
    print(f"== {small.installations:,} vs {large.installations:,}: rows ×{1 / rows:.1f} ==" if rows else "== comparison ==")
    pairs = {
        "baseline (best)": (min(small.baseline_s), min(large.baseline_s)),
        "facts rebuild (best)": (min(small.facts_rebuild_s or [0]), min(large.facts_rebuild_s or [0])),
        "full compile (best)": (min(r.wall_s for r in small.full), min(r.wall_s for r in large.full)),
        "full compile, facts rebuilt (best)": (
            min(r.wall_s for r in small.full_rebuilt),
            min(r.wall_s for r in large.full_rebuilt),
        ),
        "inline compile (best)": (min(small.inline_s), min(large.inline_s)),
        "merge alone": (small.merge_s, large.merge_s),
    }
    for (name, runs), other in zip(small.incremental.items(), large.incremental.values(), strict=False):
        if runs and other:
            pairs[f"incremental, {name.split(' (')[0]} (best)"] = (min(r.wall_s for r in runs), min(r.wall_s for r in other))
    print(f"{'':40} {small.installations:>10,} {large.installations:>10,} {'ratio':>7}")
    for name, (a, b) in pairs.items():
        print(f"{name:40} {a:10.2f} {b:10.2f} {b / a if a else 0:7.1f}")


def main() -> None:
    args = parse_args()
    results = []
    for index, size in enumerate(args.installations):
        results.append(measure(args, size, first=index == 0))
    if len(results) > 1:
        ordered = sorted(results, key=lambda f: f.installations)
        compare(ordered[0], ordered[-1])
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str))


if __name__ == "__main__":
    main()
