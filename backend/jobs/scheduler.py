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
    for kind, hours, job_id, name in (
        (REBUILD_INDEX, settings.embedding_rebuild_hours, "rebuild_index",
         "request an embedding index rebuild"),
        (RETRAIN, settings.svd_retrain_hours, "retrain_models",
         "request SVD and blend retraining"),
    ):  # fmt: skip
        scheduler.add_job(
            request, "interval", args=(kind, "schedule"), hours=hours, id=job_id, name=name
        )
    return scheduler
