from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Float, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.schema import Index

from backend.models.base import Base, CreatedAt, IntPK

if TYPE_CHECKING:
    from backend.models.movie import Movie
    from backend.models.user import User


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id", name="uq_ratings_user_id_movie_id"),
        CheckConstraint(
            "rating >= 0.5 AND rating <= 5.0 AND rating * 2 = CAST(rating * 2 AS INTEGER)",
            name="rating_half_steps",
        ),
        # Serves the per-user reads: a user's ratings in the order rated (every cache miss)
        # from the index alone (it covers the columns read), and their history.
        Index("ix_ratings_user_history", "user_id", "timestamp", "id", "movie_id", "rating"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    rating: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[CreatedAt]

    user: Mapped[User] = relationship(back_populates="ratings")
    movie: Mapped[Movie] = relationship()
