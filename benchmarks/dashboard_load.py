"""How long the managers' dashboard takes to answer with a large program behind it (issue #6: under a second).

Run against a seeded database brought up to date, with a coverage snapshot compiled, e.g.::

    DJANGO_SETTINGS_MODULE=harvest.settings.base DJANGO_SECRET_KEY=x \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/harvest_bench_cov_1000000 \\
    .venv/bin/python benchmarks/dashboard_load.py [--runs 10] [--administrator admin] [--coordinator coordinadora]

With Django's test client (signed in with ``force_login``, so the whole view, middleware and template
run, but no network), it times the dashboard page for an administrator (the city) and a coordinator
(her alcaldías), with and without filters, the htmx figures fragment and the map's JSON (the worst
case: the whole city, capped at 20,000 points). Each case: one warm-up, then ``--runs`` timed requests;
it prints the best and the median, the queries of one request and whether the goal (< 1 s, median)
is met. It prints figures only and asserts nothing about time. It writes nothing but the two users'
sessions (and the coordinator, if the database has none: a user ``bench-coordinadora``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "harvest.settings.base")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402

from coverage.services import coverage_latest_snapshot  # noqa: E402
from installations.models import Alcaldia, Installation, User  # noqa: E402

GOAL_SECONDS = 1.0
DASHBOARD = "/tablero/"
MAP = "/tablero/mapa.json"
FIGURES_HTMX = {"HX-Request": "true", "HX-Target": "cifras"}


@dataclass
class Case:
    """One request to time: who asks, what, with which headers."""

    name: str
    user: User
    url: str
    headers: dict[str, str] | None = None


@dataclass
class Result:
    """A case's timings (seconds) and what one request did."""

    case: Case
    times: list[float]
    queries: int
    status: int
    size: int

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _get(client: Client, case: Case) -> Any:
    response = client.get(case.url, headers=case.headers or {}, secure=True)  # as behind HTTPS
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def run(case: Case, runs: int) -> Result:
    """One warm-up (its queries counted), then ``runs`` timed requests."""
    client = Client()
    client.force_login(case.user)
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response, body = _get(client, case)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _get(client, case)
        times.append(time.perf_counter() - started)
    return Result(case=case, times=times, queries=len(queries), status=response.status_code, size=len(body))


def coordinator_named(username: str) -> User:
    """The demo's coordinator if the database has her, else one created for the benchmark (two alcaldías)."""
    user = User.objects.filter(username=username, role=User.Role.COORDINATOR).first()
    if user is not None and user.alcaldias.exists():
        return user
    user, _created = User.objects.get_or_create(
        username="bench-coordinadora", defaults={"role": User.Role.COORDINATOR, "first_name": "Coordinadora"}
    )
    user.alcaldias.set(Alcaldia.objects.filter(cvegeo__in=["09007", "09009"]))
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--administrator", default="admin")
    parser.add_argument("--coordinator", default="coordinadora")
    args = parser.parse_args()

    setup_test_environment()  # the test client's host, as in the tests; DEBUG stays off
    # Plain static storage: no collectstatic manifest is needed to render the page's asset URLs.
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": static}).enable()
    administrator = (
        User.objects.filter(username=args.administrator).first() or User.objects.filter(role=User.Role.ADMINISTRATOR).first()
    )
    if administrator is None:
        sys.exit("no administrator in this database: pass --administrator")
    coordinator = coordinator_named(args.coordinator)
    snapshot = coverage_latest_snapshot()
    # The program year of the newest installation, so that the year filter selects systems on the map.
    year = Installation.objects.order_by("-installed_on").values_list("application__program_year", flat=True).first()
    hers = list(coordinator.alcaldias.order_by("cvegeo").values_list("cvegeo", flat=True))
    filtered = f"program_year={year}&modality=total_subsidy"
    print(f"database: {connection.settings_dict['NAME']} ({connection.vendor})")
    print(f"installations: {Installation.objects.count():,}")
    print(f"snapshot: {snapshot.pk if snapshot else 'none'} ({snapshot.as_of if snapshot else '-'})")
    print(f"administrator: {administrator.username}; coordinator: {coordinator.username} {hers}")
    print(f"runs: 1 warm-up + {args.runs} timed per case; goal: median < {GOAL_SECONDS:.0f} s\n")
    if snapshot is None:
        print("warning: no coverage snapshot: run `manage.py compile_coverage --inline` first\n")

    cases = [
        Case("page · administrator · city", administrator, DASHBOARD),
        Case("page · administrator · year+modality", administrator, f"{DASHBOARD}?{filtered}"),
        Case("page · administrator · one alcaldía", administrator, f"{DASHBOARD}?alcaldia=09007"),
        Case("fragment · administrator · year+modality", administrator, f"{DASHBOARD}?{filtered}", FIGURES_HTMX),
        Case("map · administrator · city (worst)", administrator, MAP),
        Case("map · administrator · year+modality", administrator, f"{MAP}?{filtered}"),
        Case("page · coordinator · her alcaldías", coordinator, DASHBOARD),
        Case("page · coordinator · year+modality", coordinator, f"{DASHBOARD}?{filtered}"),
        Case("page · coordinator · one alcaldía", coordinator, f"{DASHBOARD}?alcaldia={hers[0]}"),
        Case("fragment · coordinator · one alcaldía", coordinator, f"{DASHBOARD}?alcaldia={hers[0]}", FIGURES_HTMX),
        Case("map · coordinator · her alcaldías", coordinator, MAP),
    ]
    header = f"{'case':44} {'status':>6} {'bytes':>10} {'queries':>7} {'best s':>8} {'median s':>9}  goal"
    print(header)
    print("-" * len(header))
    for case in cases:
        result = run(case, args.runs)
        verdict = "met" if result.median < GOAL_SECONDS else "MISSED"
        if result.status != 200:
            verdict = f"not measured (HTTP {result.status})"
        print(
            f"{case.name:44} {result.status:>6} {result.size:>10,} {result.queries:>7} "
            f"{result.best:>8.3f} {result.median:>9.3f}  < {GOAL_SECONDS:.0f} s {verdict}"
        )


if __name__ == "__main__":
    main()
