"""Benchmark: build the program's real size (62,700 systems) with seed_demo on a fresh database.

Prints the seconds on SQLite (a new file under var/) and, when BENCH_POSTGRES_URL names a server
(e.g. postgres://postgres@127.0.0.1:5432/harvest_bench), on a freshly created PostgreSQL database.
Goal (issue 2): under 60 s on each.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = int(os.environ.get("BENCH_INSTALLATIONS", "62700"))


def run(database_url: str) -> str:
    env = os.environ | {"DATABASE_URL": database_url, "DJANGO_SECRET_KEY": "benchmark", "DJANGO_DEBUG": "true"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env, cwd=ROOT)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [*manage, "seed_demo", "--installations", str(SIZE), "--seed", "2019", "--today", "2026-11-27"],
        check=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    return re.search(r"lista en ([\d.]+) s: (.*)", out).group(0)


def main() -> None:
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as folder:
        print(f"SQLite     {SIZE:,} systems: {run(f'sqlite:///{folder}/bench.sqlite3')}")
    url = os.environ.get("BENCH_POSTGRES_URL")
    if url:
        base, name = url.rsplit("/", 1)
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", f"{base}/postgres", "-qc", sql], check=True)  # noqa: S603,S607
        print(f"PostgreSQL {SIZE:,} systems: {run(url)}")


if __name__ == "__main__":
    main()
