"""APScheduler wiring: periodic index rebuilds and retraining, never overlapping.

Inside one process `max_instances=1` stops a job overlapping itself and a single worker thread
runs jobs one at a time; across processes the file lock in backend.jobs.locks does the same.
Missed runs coalesce into one. Runs in the API (lifespan) or alone:
`python -m backend.jobs.scheduler`.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from backend.config import Settings, get_settings
from backend.jobs.tasks import rebuild_index_job, retrain_models_job, startup_job

log = logging.getLogger(__name__)


def create_scheduler(settings: Settings, run_startup: bool = True) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    scheduler.add_job(
        rebuild_index_job,
        "interval",
        hours=settings.embedding_rebuild_hours,
        id="rebuild_index",
        name="rebuild embedding index",
    )
    scheduler.add_job(
        retrain_models_job,
        "interval",
        hours=settings.svd_retrain_hours,
        id="retrain_models",
        name="retrain SVD and blend",
    )
    if run_startup:
        scheduler.add_job(
            startup_job,
            "date",
            id="startup",
            run_date=datetime.now(UTC) + timedelta(seconds=0.5),
            name="initial models and index",
        )
    return scheduler


def main() -> None:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    scheduler = create_scheduler(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    log.info(
        "scheduler running: index every %s h, retraining every %s h",
        settings.embedding_rebuild_hours,
        settings.svd_retrain_hours,
    )
    stop.wait()
    scheduler.shutdown(wait=True)


if __name__ == "__main__":
    main()
