"""The periodic schedule: APScheduler asks for an index rebuild and a retrain at intervals.

It only *requests* jobs (a row in the job table); the worker process runs them, one at a time.
Missed runs coalesce into one, and a request while the same kind is queued or running is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from backend.config import Settings
from backend.jobs.queue import REBUILD_INDEX, RETRAIN


def create_scheduler(
    settings: Settings, request: Callable[[str, str], object]
) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    scheduler.add_job(
        request,
        "interval",
        args=(REBUILD_INDEX, "schedule"),
        hours=settings.embedding_rebuild_hours,
        id="rebuild_index",
        name="request an embedding index rebuild",
    )
    scheduler.add_job(
        request,
        "interval",
        args=(RETRAIN, "schedule"),
        hours=settings.svd_retrain_hours,
        id="retrain_models",
        name="request SVD and blend retraining",
    )
    return scheduler
