from datetime import datetime

from pydantic import BaseModel, ConfigDict


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    result: str | None
    error: str | None


class JobAccepted(BaseModel):
    job_id: int
    kind: str
    status: str
    detail: str
