"""What users were shown (impressions) and what they did with it (feedback events)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, CreatedAt, IntPK


class Impression(Base):
    """One recommendations response, keyed by the request id returned to the client."""

    __tablename__ = "impressions"
    __table_args__ = (Index("ix_impressions_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[IntPK]
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    # Who saw the list (and may send events for it) and whose recommendations they were.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject_user_id: Mapped[int] = mapped_column(Integer)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    variant: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    # True when the client's explicit `use_embeddings` parameter overrode the variant.
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str | None] = mapped_column(String(64))
    index_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]

    items: Mapped[list[ImpressionItem]] = relationship(
        order_by="ImpressionItem.position", cascade="all, delete-orphan", passive_deletes=True
    )


class ImpressionItem(Base):
    __tablename__ = "impression_items"
    __table_args__ = (
        UniqueConstraint("impression_id", "movie_id", name="uq_impression_items_impression_movie"),
        Index("ix_impression_items_movie_id_impression_id", "movie_id", "impression_id"),
    )

    id: Mapped[IntPK]
    # No index of its own: the unique (impression_id, movie_id) index leads with it.
    impression_id: Mapped[int] = mapped_column(ForeignKey("impressions.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class FeedbackEvent(Base):
    """A click, detail view, dismissal or attributed rating of one shown movie."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        UniqueConstraint("impression_id", "movie_id", "kind", name="uq_feedback_events_once"),
        CheckConstraint("kind IN ('click', 'detail_view', 'dismiss', 'rating')", name="kind_known"),
    )

    id: Mapped[IntPK]
    impression_id: Mapped[int] = mapped_column(
        ForeignKey("impressions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    movie_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    rating: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[CreatedAt]

    impression: Mapped[Impression] = relationship()
