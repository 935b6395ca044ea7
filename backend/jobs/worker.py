"""The job worker: the one process that trains models and builds the index.

It runs the jobs the API records (POST /admin/...), keeps the periodic schedule (APScheduler
enqueues; it never runs a job itself) and, at start, queues a bootstrap job that builds what a
fresh service lacks. `python -m backend.jobs.worker`, or `python -m backend.cli worker`.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from sqlalchemy.orm import sessionmaker

from backend.config import Settings, get_settings
from backend.database import SessionLocal
from backend.jobs import queue
from backend.jobs.locks import JobBusy, exclusive
from backend.jobs.scheduler import create_scheduler
from backend.jobs.tasks import HANDLERS
from backend.services.recommender_runtime import RecommenderRuntime, get_runtime

log = logging.getLogger(__name__)


class JobWorker:
    def __init__(
        self, runtime: RecommenderRuntime, session_factory: sessionmaker = SessionLocal
    ) -> None:
        self.runtime = runtime
        self.session_factory = session_factory
        self.engine = session_factory.kw["bind"]

    def request(self, kind: str, requested_by: str) -> int | None:
        """Queue a job unless one of its kind is already queued or running."""
        with self.session_factory() as db:
            try:
                return queue.enqueue(db, kind, requested_by).id
            except queue.JobAlreadyActive as exc:
                log.info("%s not queued: %s", kind, exc)
                return None

    def run_next(self) -> bool:
        """Run the oldest queued job under the job lock; False when idle or the lock is taken."""
        try:
            with (
                exclusive(self.engine, self.runtime.settings.locks_dir),
                self.session_factory() as db,
            ):
                interrupted = queue.fail_interrupted(db)
                if interrupted:
                    log.warning(
                        "%d job(s) left running by a stopped worker marked failed", interrupted
                    )
                job = queue.claim_next(db)
                if job is None:
                    return False
                self._execute(db, job)
                return True
        except JobBusy:
            return False

    def _execute(self, db, job) -> None:  # noqa: ANN001
        log.info("job %d (%s, requested by %s) started", job.id, job.kind, job.requested_by)
        started = time.perf_counter()
        params = json.loads(job.params or "{}")
        try:
            result = HANDLERS[job.kind](self.runtime, db, **params)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, the worker carries on
            db.rollback()
            log.exception("job %d (%s) failed", job.id, job.kind)
            queue.finish(db, job, error=f"{type(exc).__name__}: {exc}")
            return
        queue.finish(db, job, result=result)
        log.info(
            "job %d (%s) done in %.1f s: %s",
            job.id,
            job.kind,
            time.perf_counter() - started,
            result,
        )


def run_worker(settings: Settings, stop: threading.Event, poll_seconds: float = 1.0) -> None:
    runtime = get_runtime(settings)
    worker = JobWorker(runtime)
    scheduler = None
    if settings.scheduler_enabled:
        scheduler = create_scheduler(settings, worker.request)
        scheduler.start()
    if settings.train_on_startup or settings.build_index_on_startup:
        worker.request(queue.BOOTSTRAP, "worker start")
    log.info(
        "job worker running: index every %s h, retraining every %s h (schedule %s)",
        settings.embedding_rebuild_hours,
        settings.svd_retrain_hours,
        "on" if scheduler else "off",
    )
    try:
        while not stop.is_set():
            if not worker.run_next():
                stop.wait(poll_seconds)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def main() -> None:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # the CLI configured WARNING before handing over
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(settings, stop, settings.job_poll_seconds)
    log.info("job worker stopped")


if __name__ == "__main__":
    main()
