"""Admin: request background jobs (run by the worker process) and follow them."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from backend.api.deps import AdminUser, SessionDep
from backend.jobs import queue
from backend.schemas.jobs import JobAccepted, JobOut

router = APIRouter(prefix="/admin", tags=["admin"])

# Every job request answers 202 with the queued job, or 409 while one of its kind is active.
_JOB_REQUEST = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": JobAccepted,
    "responses": {409: {"description": "A job of this kind is already queued or running"}},
}


def _accepted(job) -> JobAccepted:  # noqa: ANN001
    return JobAccepted(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        detail=f"Job {job.id} queued; follow it at /admin/jobs/{job.id}",
    )


@router.post("/models/svd/retrain", **_JOB_REQUEST)
def retrain(user: AdminUser, db: SessionDep) -> JobAccepted:
    return _accepted(queue.enqueue(db, queue.RETRAIN, user.username))


@router.post("/embeddings/rebuild", **_JOB_REQUEST)
def rebuild(user: AdminUser, db: SessionDep) -> JobAccepted:
    return _accepted(queue.enqueue(db, queue.REBUILD_INDEX, user.username))


@router.get("/jobs", response_model=list[JobOut])
def jobs(
    _: AdminUser,
    db: SessionDep,
    kind: Annotated[Literal[queue.KINDS] | None, Query()] = None,  # type: ignore[valid-type]
    status_: Annotated[
        Literal["queued", "running", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    return [
        JobOut.model_validate(j)
        for j in queue.list_jobs(db, kind=kind, status=status_, limit=limit)
    ]


@router.get("/jobs/{job_id}", response_model=JobOut)
def job(_: AdminUser, db: SessionDep, job_id: int) -> JobOut:
    return JobOut.model_validate(queue.get_job(db, job_id))
