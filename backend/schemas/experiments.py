from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.schemas.movies import RecommendedMovie

Slug = r"^[a-z0-9][a-z0-9_-]{0,63}$"
VariantMethod = Literal["hybrid", "hybrid_no_embeddings", "svd", "content", "popularity"]


class ServedRecommendation(RecommendedMovie):
    """A recommended movie with the id of the list it was shown in (send it with events)."""

    request_id: str


class VariantIn(BaseModel):
    name: str = Field(pattern=Slug, description="lower-case letters, digits, '-' and '_'")
    share: float = Field(gt=0, le=1000, description="relative traffic share")
    method: VariantMethod = Field(description="recommender the variant serves")


class ExperimentIn(BaseModel):
    name: str = Field(pattern=Slug, description="lower-case letters, digits, '-' and '_'")
    description: str = Field(default="", max_length=2000)
    variants: list[VariantIn] = Field(min_length=2, max_length=10)

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantIn]) -> list[VariantIn]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        return variants


class VariantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    share: float
    method: str


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    description: str
    status: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    variants: list[VariantOut]
