"""Benchmark (issue 3): the API under load, from a separate process. A script to run by hand, not a test.

Against gunicorn (2 sync workers, production settings) on PostgreSQL with N installations from
seed_demo, wrk (2 threads, 8 connections, 15 s per target) measures requests/s and p50/p95/p99
latency for five targets, in one run:

  a. list-page-1     GET  /api/v1/installations/ with a coordinator's device token (50 rows)
  b. list-deep-page  GET  the same list at page 5,000, through a cursor built for that position
  c. status-lookup   POST /api/v1/public/status/ with a valid folio and verification code
  d. baseline-ok     GET  a view answering {"ok": true}: gunicorn + middleware + JSON, no query
  e. baseline-keyset GET  the deep page as a bare values() keyset query: the query, nothing else

Usage (from the project root):

    .venv/bin/python benchmarks/api_load.py                                  # 500,000 installations
    .venv/bin/python benchmarks/api_load.py --installations 20000 --database-url postgres://postgres@127.0.0.1:5432/harvest_bench20k
    .venv/bin/python benchmarks/api_load.py --skip-seed                      # database already seeded
    .venv/bin/python benchmarks/api_load.py --cache-url redis://127.0.0.1:6379/13   # counters in Redis

The server runs with benchmarks/settings_bench.py: base.py as in production, plus the lookup's
throttle raised (all load comes from 127.0.0.1) and the two baseline views. Throttle counters live
in Redis with --cache-url, otherwise in the database (the embedded default). The script creates the
database if missing, migrates it, reseeds it (seed_demo --reset) unless --skip-seed, and runs VACUUM
ANALYZE (as autovacuum would in time after a bulk load). It makes its own coordinator token and its
own application (application_register, so it knows the code), and revokes the token at the end.
wrk is installed with apt-get when missing. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address this script ever talks to over HTTP
SETTINGS = "benchmarks.settings_bench"
INSTALLATIONS_URL = "/api/v1/installations/"
STATUS_URL = "/api/v1/public/status/"
PAGE_SIZE = 50
DEEP_PAGE = 5_000


@dataclass
class Target:
    name: str
    path: str
    description: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    skipped: str = ""  # why it was not run


@dataclass
class Result:
    name: str
    requests_per_s: float
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int


@dataclass
class Preparation:
    installations: int
    visible_to_coordinator: int
    deep_page: int
    deep_before_pk: int | None
    deep_first_pk: int | None
    token: str
    token_id: int
    folio: str
    code: str
    counters: str
    list_fields: tuple[str, ...]
    list_fields_skipped: tuple[str, ...]
    list_endpoint: bool


# --- Set-up -------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/harvest_bench500k")
    parser.add_argument("--installations", type=int, default=500_000)
    parser.add_argument("--skip-seed", action="store_true", help="use the database as it is (already seeded)")
    parser.add_argument("--cache-url", default="", help="e.g. redis://127.0.0.1:6379/13; default: counters in the database")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per target")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded load per target first")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    return parser.parse_args()


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    command = ["apt-get", "install", "-y", "wrk"]
    if os.geteuid() != 0:
        command = ["sudo", *command]
    subprocess.run(command, check=True)  # noqa: S603
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed; install it and run again")
    return found


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": args.database_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": HOST,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    if args.cache_url:
        env["CACHE_URL"] = args.cache_url
    return env


def database_create_if_missing(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    url = urlsplit(database_url)
    if url.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(f"--database-url must be PostgreSQL, not {url.scheme!r}")
    name = url.path.lstrip("/")
    server = url._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(server, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            print(f"creating database {name}", flush=True)
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_analyze(database_url: str) -> None:
    """Fresh statistics: seed_demo's bulk inserts leave the planner guessing (a 20,000-row table taken
    for 246 rows turns the list's index walk into a join of every visible row and a sort)."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")


def manage(env: dict[str, str], *arguments: str) -> str:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "manage.py"), *arguments], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return completed.stdout


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _bench_curp() -> tuple[str, date]:
    """A valid CURP no applicant has yet, and the birth date it encodes."""
    from installations.identifiers import curp_check_digit
    from installations.models import Applicant

    letters, consonants = "ABCDEFGHJKLMNPRSTUVWXYZ", "BCDFGHJKLMNPRSTVWXYZ"
    while True:
        born = date(1960 + secrets.randbelow(40), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28))
        head = secrets.choice(letters) + secrets.choice("AEIOU") + secrets.choice(letters) + secrets.choice(letters)
        tail = "".join(secrets.choice(consonants) for _ in range(3))
        body = f"{head}{born:%y%m%d}MDF{tail}0"
        curp = body + str(curp_check_digit(body))
        if not Applicant.objects.filter(curp=curp).exists():
            return curp, born


def prepare(args: argparse.Namespace) -> Preparation:
    """In this process, against the benchmark database: a token, an application with its code, the deep cursor."""
    from django.conf import settings
    from django.urls import Resolver404, resolve
    from django.utils import timezone

    from api.authentication import device_token_issue
    from benchmarks.urls_bench import installation_list_fields
    from installations.models import Application, Dwelling, EligibleColonia, Installation, RoofMaterial, User
    from installations.services import application_register

    coordinator = User.objects.filter(username="coordinadora", is_active=True).first()
    if coordinator is None:
        sys.exit("no active user 'coordinadora': seed the database (run without --skip-seed)")
    eligible = EligibleColonia.objects.select_related("program_year", "colonia").order_by("-program_year__year", "pk").first()
    if eligible is None:
        sys.exit("no eligible colonia: seed the database (run without --skip-seed)")
    curp, born = _bench_curp()
    application, code = application_register(
        program_year=eligible.program_year,
        applicant={
            "first_name": "Prueba",
            "first_surname": "De Carga",
            "second_surname": "",
            "curp": curp,
            "sex": "M",
            "birth_date": born,
        },
        dwelling={
            "colonia": eligible.colonia,
            "street_address": "Calle del Banco de Pruebas 1",
            "occupants": 4,
            "water_supply": Dwelling.WaterSupply.CONTINUOUS,
            "roof_material": RoofMaterial.CONCRETE,
            "roof_area_m2": 40,
        },
        channel=Application.Channel.PORTAL,
        privacy_consent_at=timezone.now(),
    )

    scoped = Installation.objects.all()
    scoped = (
        scoped.visible_to(coordinator)
        if hasattr(scoped, "visible_to")
        else scoped.filter(dwelling__colonia__alcaldia__in=coordinator.alcaldias.all())
    )
    visible = scoped.count()
    deep_page = min(DEEP_PAGE, visible // PAGE_SIZE)
    before_pk = first_pk = None
    if deep_page >= 2:
        # Page P holds rows 50·(P−1) … 50·P−1 of the list ordered by −pk (KeysetPagination). Its cursor
        # is the last row of page P−1, at offset 50·(P−1)−1: the page is then every pk below that one.
        pks = list(
            scoped.order_by("-pk").values_list("pk", flat=True)[PAGE_SIZE * (deep_page - 1) - 1 : PAGE_SIZE * (deep_page - 1) + 1]
        )
        before_pk, first_pk = pks[0], pks[1]
    try:
        resolve(INSTALLATIONS_URL)
        list_endpoint = True
    except Resolver404:
        list_endpoint = False
    fields, skipped = installation_list_fields()
    token, raw = device_token_issue(user=coordinator, device_name="benchmarks/api_load.py")  # last: cleanup() revokes it
    return Preparation(
        installations=Installation.objects.count(),
        visible_to_coordinator=visible,
        deep_page=deep_page,
        deep_before_pk=before_pk,
        deep_first_pk=first_pk,
        token=raw,
        token_id=token.pk,
        folio=application.folio_display,
        code=code,
        counters=f"{settings.HARVEST_COUNTERS} ({settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]})",
        list_fields=fields,
        list_fields_skipped=skipped,
        list_endpoint=list_endpoint,
    )


def cleanup(preparation: Preparation | None) -> None:
    if preparation is None:
        return
    from api.authentication import device_token_revoke
    from api.models import DeviceToken

    token = DeviceToken.objects.filter(pk=preparation.token_id).first()
    if token is not None:
        device_token_revoke(token=token)


def drf_cursor(position: int) -> str:
    """DRF CursorPagination's cursor for ``position``: base64 of the query string ``p=<pk>``."""
    return base64.b64encode(urlencode({"p": position}).encode("ascii")).decode("ascii")


def targets(preparation: Preparation) -> list[Target]:
    auth = {"Authorization": f"Bearer {preparation.token}"}
    missing_list = "" if preparation.list_endpoint else f"{INSTALLATIONS_URL} does not exist yet"
    no_deep = (
        f"the coordinator sees {preparation.visible_to_coordinator} rows: no second page" if preparation.deep_page < 2 else ""
    )
    deep_query = f"?cursor={quote(drf_cursor(preparation.deep_before_pk))}" if preparation.deep_before_pk else ""
    lookup_body = json.dumps({"folio": preparation.folio, "code": preparation.code})
    page = f"page {preparation.deep_page:,}"
    return [
        Target("list-page-1", INSTALLATIONS_URL, "coordinator, first 50 rows", headers=auth, skipped=missing_list),
        Target(
            "list-deep-page",
            INSTALLATIONS_URL + deep_query,
            f"coordinator, {page} via cursor",
            headers=auth,
            skipped=missing_list or no_deep,
        ),
        Target(
            "status-lookup",
            STATUS_URL,
            "public, valid folio + code",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=lookup_body,
        ),
        Target("baseline-ok", "/bench/ok/", '{"ok": true}, no query'),
        Target(
            "baseline-keyset",
            f"/bench/installation-keyset/?before={preparation.deep_before_pk}",
            f"values() keyset, {page}, no scope",
            skipped=no_deep,
        ),
    ]


# --- Server -------------------------------------------------------------------------------------------
def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def gunicorn_start(args: argparse.Namespace, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    if not port_is_free(args.port):
        sys.exit(f"{HOST}:{args.port} is in use; free it or pass --port")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "harvest.wsgi:application",
        "--workers",
        str(args.workers),
        "--bind",
        f"{HOST}:{args.port}",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    with log.open("ab") as output:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}; see {log}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            status, _body = http(args.port, Target("probe", "/bench/ok/", ""))
            if status == 200:
                return server
        time.sleep(0.3)
    gunicorn_stop(server)
    sys.exit(f"gunicorn did not answer within 60 s; see {log}")


def gunicorn_stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def http(port: int, target: Target) -> tuple[int, bytes]:
    request = urllib.request.Request(  # always http://127.0.0.1
        f"http://{HOST}:{port}{target.path}",
        data=target.body.encode() if target.body is not None else None,
        headers=target.headers,
        method=target.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check(port: int, target: Target, preparation: Preparation) -> str:
    """Why the target's answer is not the one to measure ('' if it is)."""
    status, body = http(port, target)
    if status != 200:
        return f"answers {status}: {body[:200].decode(errors='replace')}"
    data = json.loads(body)
    if target.name.startswith(("list-", "baseline-keyset")):
        rows = data.get("results", [])
        if len(rows) != PAGE_SIZE:
            return f"answers {len(rows)} rows, not {PAGE_SIZE}"
        if target.name != "list-page-1" and rows[0].get("id") not in (None, preparation.deep_first_pk):
            return f"the deep page starts at id {rows[0].get('id')}, not {preparation.deep_first_pk}"
    return ""


# --- Load -----------------------------------------------------------------------------------------------
LUA = """\
wrk.method = {method}
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %f %f %f %f %f %f %f %f %f %f %f\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_script(target: Target, folder: Path) -> Path:
    lines = [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in target.headers.items()]
    script = folder / f"{target.name}.lua"
    script.write_text(
        LUA.format(
            method=json.dumps(target.method),
            body=f"wrk.body = {json.dumps(target.body)}" if target.body is not None else "",
            headers="\n".join(lines),
        )
    )
    script.chmod(0o600)  # holds a token
    return script


def wrk_run(wrk: str, args: argparse.Namespace, target: Target, script: Path, seconds: int) -> tuple[Result, str]:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",  # wrk's 2 s default would drop slow answers from the percentiles instead of counting them
        "--latency",
        "-s",
        str(script),
        f"http://{HOST}:{args.port}{target.path}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    stats = re.search(r"^BENCH (.+)$", output, re.MULTILINE)
    if rate is None or stats is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    requests, _duration_us, p50, p95, p99, max_us, status, connect, read, write, timeout = map(float, stats.group(1).split())
    result = Result(
        name=target.name,
        requests_per_s=float(rate.group(1)),
        requests=int(requests),
        p50_ms=p50 / 1000,
        p95_ms=p95 / 1000,
        p99_ms=p99 / 1000,
        max_ms=max_us / 1000,
        non_2xx=int(status),
        socket_errors=int(connect + read + write + timeout),
    )
    return result, output


# --- Report -----------------------------------------------------------------------------------------------
def report(preparation: Preparation, plan: list[Target], results: dict[str, Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"{preparation.installations:,} installations; the coordinator sees {preparation.visible_to_coordinator:,}; "
        f"deep page = page {preparation.deep_page:,} (before pk {preparation.deep_before_pk}); counters: {preparation.counters}"
    )
    print(
        f"gunicorn {args.workers} sync workers on {HOST}:{args.port}; wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s (after {args.warmup} s warm-up); {os.cpu_count()} CPUs shared by server, database and wrk"
    )
    print(f"list fields in baseline-keyset: {', '.join(preparation.list_fields)}")
    if preparation.list_fields_skipped:
        print(f"  (API list fields that are not columns, left out of the baseline: {', '.join(preparation.list_fields_skipped)})")
    print()
    columns = ("req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "non-2xx")
    header = f"{'target':<16} {'what':<34} " + " ".join(f"{column:>8}" for column in columns) + f" {'errors':>7}"
    print(header)
    print("-" * len(header))
    for target in plan:
        result = results.get(target.name)
        if result is None:
            print(f"{target.name:<16} {target.description:<34} skipped: {target.skipped}")
            continue
        print(
            f"{target.name:<16} {target.description:<34} {result.requests_per_s:>8.1f} {result.p50_ms:>8.2f} "
            f"{result.p95_ms:>8.2f} {result.p99_ms:>8.2f} {result.max_ms:>8.1f} {result.non_2xx:>8} {result.socket_errors:>7}"
        )
    if any(result.non_2xx or result.socket_errors for result in results.values()):
        print("\nWARNING: some answers were not 2xx or failed; those rows do not measure the intended work.")


def main() -> None:
    args = parse_args()
    wrk = ensure_wrk()
    env = server_env(args)
    database_create_if_missing(args.database_url)
    print("migrating", flush=True)
    manage(env, "migrate", "--noinput", "-v0")
    if not args.skip_seed:
        print(f"seeding {args.installations:,} installations (seed_demo --reset)", flush=True)
        print(manage(env, "seed_demo", "--installations", str(args.installations), "--reset").strip(), flush=True)
    print("vacuum analyze", flush=True)
    database_analyze(args.database_url)
    django_setup(env)
    preparation: Preparation | None = None
    server: subprocess.Popen[bytes] | None = None
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="harvest-bench-") as folder:
        try:
            preparation = prepare(args)
            plan = targets(preparation)
            log = Path(folder) / "gunicorn.log"
            server = gunicorn_start(args, env, log)
            for target in plan:
                if not target.skipped:
                    target.skipped = check(args.port, target, preparation)
                if target.skipped:
                    print(f"{target.name}: skipped, {target.skipped}", flush=True)
                    continue
                script = lua_script(target, Path(folder))
                if args.warmup:
                    wrk_run(wrk, args, target, script, args.warmup)
                print(f"{target.name}: {args.duration} s of load", flush=True)
                results[target.name], _output = wrk_run(wrk, args, target, script, args.duration)
            report(preparation, plan, results, args)
            if args.json:
                summary = {
                    "installations": preparation.installations,
                    "visible_to_coordinator": preparation.visible_to_coordinator,
                    "deep_page": preparation.deep_page,
                    "counters": preparation.counters,
                    "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration},
                    "gunicorn_workers": args.workers,
                    "results": [asdict(result) for result in results.values()],
                    "skipped": {target.name: target.skipped for target in plan if target.skipped},
                }
                args.json.write_text(json.dumps(summary, indent=2))
        finally:
            if server is not None:
                gunicorn_stop(server)
            cleanup(preparation)


if __name__ == "__main__":
    main()
