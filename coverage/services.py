"""Coverage compiles: ask for one, begin it, compute an alcaldía's part, merge and publish.

The steps are separate so the workers can share them (a chord of parts, then the merge), and each
is safe to run twice: a part is stored once per snapshot and alcaldía (unique constraint), the merge
publishes a snapshot once (row lock and state), and a job's progress counts only stored parts.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from coverage.compile import MaintenanceWindow, PartTables, part_apply, part_tables
from coverage.facts import (
    WATERMARK_MARGIN,
    applications_changed_since,
    child_moves_since,
    deletions_since,
    facts_state,
    facts_sync,
    reference_fingerprint,
)
from coverage.models import (
    CoverageFactsState,
    CoveragePart,
    CoverageSlice,
    CoverageSnapshot,
    SnapshotKind,
    SnapshotState,
)
from coverage.reshape import PartInput, ScopeFigures, build_scopes
from installations.models import Alcaldia, Colonia, Modality, ProgramYear, User
from worker.jobs import job_create, job_enqueue, job_start, job_step_done, job_succeed
from worker.models import ACTIVE_JOB_STATES, Job, JobKind

logger = logging.getLogger(__name__)

COVERAGE_LANE = "coverage"
# Published snapshots kept (older ones are deleted with their parts and slices).
SNAPSHOTS_KEPT = 10


class IncompleteSnapshotError(RuntimeError):
    """The merge ran before every part was stored; the missing parts' tasks will run it again."""


@dataclass(frozen=True)
class CompilePlan:
    snapshot_id: int
    job_id: uuid.UUID
    alcaldias_to_compute: list[str]


# --- Asking ---------------------------------------------------------------------------------------
@transaction.atomic
def coverage_refresh_request(*, by: User | None, incremental: bool = False, rebuild_facts: bool = False) -> tuple[Job, bool]:
    """Queue a compile (through the outbox, so it survives a broker outage); reuse one already queued or running.

    ``rebuild_facts`` derives every request's facts again from the source tables instead of syncing
    the changed ones (see ``coverage.facts``).
    """
    kind = JobKind.COVERAGE_INCREMENTAL if incremental else JobKind.COVERAGE_FULL
    job, created = job_create(kind=kind, lane=COVERAGE_LANE, by=by, parameters={"rebuild_facts": True} if rebuild_facts else None)
    if created:
        job_enqueue(job)
    return job, created


def coverage_refresh_if_changed(*, now: datetime | None = None) -> Job | None:
    """The periodic refresh: an incremental compile if anything changed since the latest snapshot.

    A snapshot from an earlier day is rebuilt in full instead, since the maintenance figures depend
    on the date. Returns the queued job, or None when nothing changed or a compile is under way.
    """
    latest = coverage_latest_snapshot()
    today = timezone.localdate(now)
    if latest is not None and latest.as_of == today:
        since = latest.watermark - WATERMARK_MARGIN
        unchanged = (
            not applications_changed_since(since)
            and not deletions_since(since)
            and not child_moves_since(since)
            and latest.parameters.get("reference") == reference_fingerprint()
        )
        if unchanged:
            return None
    job, created = coverage_refresh_request(by=None, incremental=latest is not None and latest.as_of == today)
    return job if created else None


# --- Beginning --------------------------------------------------------------------------------------
def coverage_alcaldias() -> list[str]:
    """The alcaldías a compile covers: those with colonias in the catalogue."""
    return list(Colonia.objects.order_by("alcaldia_id").values_list("alcaldia_id", flat=True).distinct())


def coverage_compile_begin(job_id: uuid.UUID | str) -> CompilePlan | None:
    """Start (or resume) a job's compile: its snapshot, parts copied from the base, and what is left to compute.

    None if the job already finished. Running it again after a crash finds the same snapshot and
    returns only the parts still missing.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in ACTIVE_JOB_STATES:
            return None
        snapshot = CoverageSnapshot.objects.filter(job=job).first()
        if snapshot is None:
            snapshot = _snapshot_create(job)
        done = set(snapshot.parts.values_list("alcaldia_id", flat=True))
        todo = [a for a in snapshot.parameters["alcaldias"] if a not in done]
        tasks = len(snapshot.parameters["recomputed"]) - len(snapshot.parameters.get("updated_from_base", []))
    job_start(job.pk, total=tasks + 1)
    return CompilePlan(snapshot_id=snapshot.pk, job_id=job.pk, alcaldias_to_compute=todo)


def _snapshot_create(job: Job) -> CoverageSnapshot:
    now = timezone.now()
    alcaldias = coverage_alcaldias()
    window = MaintenanceWindow.for_date(timezone.localdate(now))
    incremental = job.kind == JobKind.COVERAGE_INCREMENTAL
    state_before = facts_state()
    sync = facts_sync(now=now, rebuild=bool(job.parameters.get("rebuild_facts")), window=window if incremental else None)
    base = coverage_latest_snapshot() if incremental else None
    # Only a snapshot of the same day whose compile synced the facts last, and facts synced (not
    # rebuilt, and with no deletions) since, can lend its parts: otherwise every part is recomputed.
    if base is not None and (
        base.as_of != window.as_of
        or sync.rebuilt
        or state_before is None
        or state_before.snapshot_id != base.pk
        or deletions_since(base.watermark - WATERMARK_MARGIN)
    ):
        base = None
    recomputed = alcaldias
    base_alcaldias: set[str] = set()
    if base is not None:
        base_alcaldias = set(base.parts.values_list("alcaldia_id", flat=True))
        recomputed = [a for a in alcaldias if a in sync.alcaldias or a not in base_alcaldias]
    snapshot = CoverageSnapshot.objects.create(
        job=job,
        kind=SnapshotKind.INCREMENTAL if base is not None else SnapshotKind.FULL,
        as_of=window.as_of,
        watermark=now,
        base=base,
        parameters={
            "alcaldias": alcaldias,
            "recomputed": recomputed,
            # Recomputed here, as the base's part plus what the changed requests' facts give it now minus
            # what they gave it before the sync, instead of by a part task grouping the whole alcaldía.
            "updated_from_base": [a for a in recomputed if a in base_alcaldias],
            "reference": sync.reference,
            "facts": {"rebuilt": sync.rebuilt, "reason": sync.reason, "rows": sync.rows},
            "maintenance_window": {
                "twelve_months_ago": window.twelve_months_ago.isoformat(),
                "season": window.season,
                "preparation_starts": window.preparation_starts.isoformat(),
                "in_rainy_season": window.in_rainy_season,
            },
        },
    )
    CoverageFactsState.objects.update(snapshot_id=snapshot.pk)
    if base is not None:
        _parts_copy(base=base, to=snapshot, alcaldias=[a for a in alcaldias if a not in recomputed])
        updated_from_base = snapshot.parameters["updated_from_base"]
        # Only these parts are read back (their JSON); the others were copied inside the database.
        base_parts = {p.alcaldia_id: p for p in base.parts.filter(alcaldia_id__in=updated_from_base)}
        for alcaldia in updated_from_base:
            started = time.perf_counter()
            part = base_parts[alcaldia]
            tables = part_apply(
                PartTables(cube=part.cube, monthly=part.monthly, source_rows=part.source_rows),
                plus=sync.after.get(alcaldia),
                minus=sync.before.get(alcaldia),
            )
            _part_store(snapshot, alcaldia, tables, started=started)
    return snapshot


def _parts_copy(*, base: CoverageSnapshot, to: CoverageSnapshot, alcaldias: Sequence[str]) -> None:
    """Copy the base's parts for alcaldías that did not change, inside the database (no JSON round trip)."""
    if not alcaldias:
        return
    table = connection.ops.quote_name(CoveragePart._meta.db_table)
    marks = ", ".join(["%s"] * len(alcaldias))
    columns = "alcaldia_id, cube, monthly, source_rows"
    sql = (  # our table name only; values are parameters
        f"INSERT INTO {table} (snapshot_id, {columns}, duration_ms, computed_for_id) "  # noqa: S608
        f"SELECT %s, {columns}, 0, computed_for_id FROM {table} WHERE snapshot_id = %s AND alcaldia_id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [to.pk, base.pk, *alcaldias],
        )


# --- Computing a part -------------------------------------------------------------------------------
def coverage_part_compute(snapshot_id: int, alcaldia_id: str) -> bool:
    """Compute and store one alcaldía's part; False if it was already stored or the snapshot is done."""
    snapshot = CoverageSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None or snapshot.state != SnapshotState.BUILDING:
        return False
    if CoveragePart.objects.filter(snapshot=snapshot, alcaldia_id=alcaldia_id).exists():
        return False
    if settings.HARVEST_COVERAGE_PART_PAUSE_S:  # chaos tests: widen the window in which a worker can be killed
        time.sleep(settings.HARVEST_COVERAGE_PART_PAUSE_S)
    started = time.perf_counter()
    tables = part_tables(alcaldia_id=alcaldia_id, window=MaintenanceWindow.for_date(snapshot.as_of))
    try:
        with transaction.atomic():
            _part_store(snapshot, alcaldia_id, tables, started=started)
            if snapshot.job_id:
                job_step_done(snapshot.job_id)
    except IntegrityError:
        return False  # another delivery of the same task stored it first
    return True


def _part_store(snapshot: CoverageSnapshot, alcaldia_id: str, tables: PartTables, *, started: float) -> None:
    CoveragePart.objects.create(
        snapshot=snapshot,
        alcaldia_id=alcaldia_id,
        cube=tables.cube,
        monthly=tables.monthly,
        source_rows=tables.source_rows,
        duration_ms=int((time.perf_counter() - started) * 1000),
        computed_for=snapshot,
    )


# --- Merging and publishing ---------------------------------------------------------------------------
def coverage_merge(snapshot_id: int) -> CoverageSnapshot | None:
    """Build every scope's figures from the parts and publish the snapshot, all in one transaction."""
    with transaction.atomic():
        snapshot = CoverageSnapshot.objects.select_for_update().filter(pk=snapshot_id).first()
        if snapshot is None or snapshot.state != SnapshotState.BUILDING:
            return None
        parts = list(snapshot.parts.order_by("alcaldia_id"))
        missing = set(snapshot.parameters["alcaldias"]) - {p.alcaldia_id for p in parts}
        if missing:
            raise IncompleteSnapshotError(f"snapshot {snapshot.pk} lacks parts for {sorted(missing)}")
        years = dict(ProgramYear.objects.values_list("year", "target_systems"))
        scopes = build_scopes(
            [PartInput(alcaldia_id=p.alcaldia_id, cube=p.cube, monthly=p.monthly) for p in parts],
            years=sorted(years),
            targets=years,
            modalities=list(Modality.values),
            alcaldia_names=dict(Alcaldia.objects.values_list("cvegeo", "name")),
            colonia_names=dict(Colonia.objects.values_list("id", "name")),
        )
        _slices_insert(snapshot, scopes)
        now = timezone.now()
        snapshot.state = SnapshotState.READY
        snapshot.published_at = now
        snapshot.source_rows = sum(p.source_rows for p in parts)
        snapshot.duration_ms = int((now - snapshot.started_at).total_seconds() * 1000)
        snapshot.save(update_fields=["state", "published_at", "source_rows", "duration_ms"])
        if snapshot.job_id:
            job_succeed(
                snapshot.job_id,
                result={"snapshot": snapshot.pk, "source_rows": snapshot.source_rows, "duration_ms": snapshot.duration_ms},
            )
        _snapshots_prune(keep_after=snapshot)
    logger.info("coverage: snapshot %s published (%s requests, %s ms)", snapshot.pk, snapshot.source_rows, snapshot.duration_ms)
    return snapshot


def _slices_insert(snapshot: CoverageSnapshot, scopes: Sequence[ScopeFigures]) -> None:
    """Insert the scopes' slices with one prepared INSERT sent for every row (executemany).

    The figures go as JSON text, encoded as JSONField does (json.dumps, no encoder). bulk_create
    sends them to PostgreSQL as arrays for UNNEST, escaping each document again: with some 300
    slices and about 2 MB of JSON that took three times as long.
    """
    table = connection.ops.quote_name(CoverageSlice._meta.db_table)
    figures = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    sql = (  # our table name only; values are parameters
        f"INSERT INTO {table} (snapshot_id, program_year, alcaldia, modality, figures) "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, {figures})"
    )
    rows = [(snapshot.pk, s.program_year, s.alcaldia, s.modality, json.dumps(s.figures)) for s in scopes]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _snapshots_prune(*, keep_after: CoverageSnapshot) -> None:
    """Keep the latest SNAPSHOTS_KEPT published snapshots; drop older ones and those of abandoned jobs."""
    ready = CoverageSnapshot.objects.filter(state=SnapshotState.READY).order_by("-published_at")
    old = list(ready.values_list("pk", flat=True)[SNAPSHOTS_KEPT:])
    if old:
        CoverageSnapshot.objects.filter(pk__in=old).exclude(pk=keep_after.pk).delete()
    # A job given up (or deleted) leaves its snapshot half built: it will never be published.
    CoverageSnapshot.objects.filter(state=SnapshotState.BUILDING).exclude(job__state__in=ACTIVE_JOB_STATES).exclude(
        pk=keep_after.pk
    ).delete()


def coverage_compile_inline(job: Job) -> CoverageSnapshot | None:
    """Run a whole compile in this process, part after part (the shell command and the tests)."""
    plan = coverage_compile_begin(job.pk)
    if plan is None:
        return None
    for alcaldia in plan.alcaldias_to_compute:
        coverage_part_compute(plan.snapshot_id, alcaldia)
    return coverage_merge(plan.snapshot_id)


# --- Reading ------------------------------------------------------------------------------------------
def coverage_latest_snapshot() -> CoverageSnapshot | None:
    return CoverageSnapshot.objects.filter(state=SnapshotState.READY).order_by("-published_at").first()


def coverage_slices(
    *, snapshot: CoverageSnapshot, program_year: int, alcaldias: Sequence[str], modality: str
) -> list[CoverageSlice]:
    return list(
        CoverageSlice.objects.filter(
            snapshot=snapshot, program_year=program_year, alcaldia__in=alcaldias, modality=modality
        ).order_by("alcaldia")
    )


def describe(snapshot: CoverageSnapshot) -> dict[str, Any]:
    return {
        "id": snapshot.pk,
        "kind": snapshot.kind,
        "as_of": snapshot.as_of.isoformat(),
        "published_at": snapshot.published_at.isoformat() if snapshot.published_at else None,
        "source_rows": snapshot.source_rows,
        "duration_ms": snapshot.duration_ms,
        "recomputed_alcaldias": snapshot.parameters.get("recomputed", []),
        "maintenance_window": snapshot.parameters.get("maintenance_window", {}),
    }
