"""Legacy spreadsheet imports on the workers: one task per import job.

The task takes the job's id only (the file lies under a server-made name the job records). It is
safe to run twice: a finished job is left alone, and the import itself is idempotent (rows match on
their legacy folio, an identical row changes nothing, and a real run writes everything in one
transaction or nothing), so it runs with ``acks_late`` and ``reject_on_worker_lost``: a worker
killed mid-import leaves its message to be delivered again, and the rerun starts clean.

Time limits: 62,700 rows take seconds, so the limits only stop a runaway. They match the
maintenance sweep's and stay below the broker's visibility timeout (7,200 s, reliability.md F8).
The job's heartbeat moves at every progress step, well within HARVEST_JOB_STALE_SECONDS.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils.translation import gettext as _

from worker.tasks.options import FILE_JOB, TRANSIENT

logger = logging.getLogger(__name__)


@shared_task(**FILE_JOB)  # a lost connection or a locked database heals; the rerun starts clean
def legacy_import_task(job_id: str) -> None:
    """Read the job's stored sheet, check it and (unless a dry run) store it; the report is the job's result."""
    from legacy.services import import_job_give_up, import_job_run

    try:
        report = import_job_run(job_id)
    except TRANSIENT:
        raise
    except SoftTimeLimitExceeded:
        import_job_give_up(job_id, error=_("La importación tardó demasiado y se detuvo; no se guardó nada."))
        raise
    except Exception as error:
        logger.exception("legacy import job %s failed", job_id)
        import_job_give_up(
            job_id,
            error=_("La importación falló por un error interno (%(kind)s); no se guardó nada.") % {"kind": type(error).__name__},
        )
        raise
    if report is None:
        logger.info("legacy import: job %s already finished (or its file is gone)", job_id)
