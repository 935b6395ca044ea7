"""A/B experiments: named, with variants that carry recommender settings and traffic shares."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, CreatedAt, IntPK


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'running', 'stopped')", name="status_known"),
    )

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    created_at: Mapped[CreatedAt]
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)

    variants: Mapped[list[ExperimentVariant]] = relationship(
        back_populates="experiment",
        order_by="ExperimentVariant.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ExperimentVariant(Base):
    """One arm: the recommender method it serves and its share of the traffic."""

    __tablename__ = "experiment_variants"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name", name="uq_experiment_variants_experiment_name"),
        CheckConstraint("share > 0", name="share_positive"),
        CheckConstraint(
            "method IN ('hybrid', 'hybrid_no_embeddings', 'svd', 'content', 'popularity')",
            name="method_known",
        ),
    )

    id: Mapped[IntPK]
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32))

    experiment: Mapped[Experiment] = relationship(back_populates="variants")
