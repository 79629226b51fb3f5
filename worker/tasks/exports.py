"""Large exports on the workers: one task per export job, and the hourly purge of expired files.

``legacy_export_task`` takes the job's id only; the filters, kind, format and personal-data choice
are on the job (reliability.md F2). It is safe to run twice: the file is built under a temporary
name and moved into place, logged and the job finished in one transaction under the job's row
lock, so a second delivery finds the job finished and leaves, and a rerun after a lost worker
builds the file again (``legacy/exports.py``, ``export_job_run``). Hence ``acks_late`` with
``reject_on_worker_lost``.

Time limits: the whole program (62,700 systems) takes seconds, so the limits only stop a runaway;
they match the import's and stay below the broker's visibility timeout (7,200 s, F8). Progress
moves the job's heartbeat every 5,000 rows, well within HARVEST_JOB_STALE_SECONDS.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils.translation import gettext as _

from worker.tasks.options import FILE_JOB, TRANSIENT

logger = logging.getLogger(__name__)


@shared_task(**FILE_JOB)  # a lost connection or a locked database heals; the rerun builds the file again
def legacy_export_task(job_id: str) -> None:
    """Build the job's export into private storage and log it; the download link is on the job."""
    from legacy.exports import export_job_give_up, export_job_run

    try:
        log = export_job_run(job_id)
    except TRANSIENT:
        raise
    except SoftTimeLimitExceeded:
        export_job_give_up(job_id, error=_("La exportación tardó demasiado y se detuvo; pídala de nuevo con menos filas."))
        raise
    except PermissionError:
        logger.warning("export job %s refused: its user may no longer export it", job_id)
        export_job_give_up(job_id, error=_("Ya no tiene permiso para esta exportación."))
        return
    except Exception as error:
        logger.exception("export job %s failed", job_id)
        export_job_give_up(
            job_id, error=_("La exportación falló por un error interno (%(kind)s).") % {"kind": type(error).__name__}
        )
        raise
    if log is None:
        logger.info("export: job %s already finished", job_id)


@shared_task(soft_time_limit=120, time_limit=180, ignore_result=True)
def export_files_purge_task() -> int:
    """Beat, hourly: delete built exports past their 24 hours and files no job will deliver. Safe to run twice."""
    from legacy.exports import export_files_purge

    return export_files_purge()
