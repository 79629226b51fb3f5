"""Start and stop real processes for the reliability tests: Celery workers, beat, gunicorn, a private Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The test database, as a URL another process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    return os.environ | {"DJANGO_SETTINGS_MODULE": "harvest.settings.test", "DATABASE_URL": database_url(), **extra}


def start(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own group (so a kill reaches its children too), logging to ``log``."""
    return subprocess.Popen(  # noqa: S603 -- our own command lines
        args,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def celery_worker(*, env: dict[str, str], log: Path, queues: str = "default,statistics", pool: str = "solo") -> subprocess.Popen:
    return start(
        [
            sys.executable, "-m", "celery", "-A", "harvest", "worker", f"--pool={pool}", "-Q", queues,
            "--without-gossip", "--without-mingle", "-l", "info",
        ],
        env=env,
        log=log,
    )  # fmt: skip


def celery_beat(*, env: dict[str, str], log: Path, schedule: Path) -> subprocess.Popen:
    return start([sys.executable, "-m", "celery", "-A", "harvest", "beat", "-l", "info", "-s", str(schedule)], env=env, log=log)


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal the whole process group and wait; SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def wait_for(condition: Callable[[], object], *, timeout: float, every: float = 0.2, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def private_redis(port: int, log: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    """A Redis of our own on ``port`` (the shared one also holds the throttle counters); yields a (re)starter."""
    processes: list[subprocess.Popen] = []

    def launch() -> subprocess.Popen:
        options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = start(
            [redis_server_path() or "redis-server", *options],
            env=dict(os.environ),
            log=log,
        )
        wait_for(lambda: _accepts(port), timeout=10, what=f"redis on {port}")
        processes.append(process)
        return process

    try:
        yield launch
    finally:
        for process in processes:
            stop(process, timeout=5)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
