"""The job table as a queue: request, claim, finish and list background jobs.

The API only records requests here; the worker process (backend.jobs.worker) claims and runs
them. A partial unique index allows one queued-or-running job per kind, so a second request for
the same kind is refused (409) by the database itself, whichever process or host asks.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.models import Job
from backend.models.base import utcnow
from backend.models.job import ACTIVE_STATUSES
from backend.services.errors import ConflictError, NotFoundError

RETRAIN = "retrain"
REBUILD_INDEX = "rebuild_index"
BOOTSTRAP = "bootstrap"
KINDS = (RETRAIN, REBUILD_INDEX, BOOTSTRAP)
ERROR_CHARS = 2000


class JobAlreadyActive(ConflictError):
    def __init__(self, job: Job) -> None:
        super().__init__(f"A {job.kind} job is already {job.status} (job {job.id})")
        self.job = job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(db: Session, kind: str, requested_by: str, params: dict[str, Any] | None = None) -> Job:
    """Record a job request; JobAlreadyActive when one of this kind is queued or running."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(
        kind=kind,
        status="queued",
        requested_by=requested_by[:80],
        params=json.dumps(params or {}),
        requested_at=utcnow(),
    )
    db.add(job)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        active = active_job(db, kind)
        if active is None:  # it finished between our insert and this read: ask again
            return enqueue(db, kind, requested_by, params)
        raise JobAlreadyActive(active) from None
    return job


def active_job(db: Session, kind: str) -> Job | None:
    return db.scalar(select(Job).where(Job.kind == kind, Job.status.in_(ACTIVE_STATUSES)))


def claim_next(db: Session) -> Job | None:
    """Mark the oldest queued job running and return it (None when the queue is empty).

    The caller holds the job lock (backend.jobs.runner), so one claimer runs at a time; the
    conditional UPDATE still makes a claim safe if two ever race.
    """
    query = select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(1)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = db.scalar(query)
    if job_id is None:
        db.rollback()
        return None
    claimed = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(status="running", started_at=utcnow(), worker=worker_name())
    ).rowcount
    db.commit()
    return db.get(Job, job_id) if claimed else None


def finish(db: Session, job: Job, *, result: str | None = None, error: str | None = None) -> None:
    job.status = "failed" if error is not None else "succeeded"
    job.finished_at = utcnow()
    job.result = result
    job.error = error[:ERROR_CHARS] if error is not None else None
    db.commit()


def fail_interrupted(db: Session) -> int:
    """Jobs left "running" by a worker that died (kill -9, power loss) are marked failed.

    Only called while holding the job lock: no live worker can be running one then.
    """
    count = db.execute(
        update(Job)
        .where(Job.status == "running")
        .values(
            status="failed",
            finished_at=utcnow(),
            error="interrupted: the worker stopped before the job finished",
        )
    ).rowcount
    db.commit()
    return count


def get_job(db: Session, job_id: int) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"Job {job_id} not found")
    return job


def list_jobs(
    db: Session, *, kind: str | None = None, status: str | None = None, limit: int = 50
) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if kind:
        query = query.where(Job.kind == kind)
    if status:
        query = query.where(Job.status == status)
    return list(db.scalars(query))
