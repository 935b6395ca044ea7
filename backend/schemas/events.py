from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class EventIn(BaseModel):
    request_id: str = Field(pattern=UUID_PATTERN, description="X-Request-ID of the list")
    movie_id: int = Field(ge=1, le=MAX_ID)
    kind: Literal["click", "detail_view", "dismiss"]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    movie_id: int
    kind: str
    position: int
    created_at: datetime
