from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, CreatedAt, IntPK, utcnow


class Movie(Base):
    __tablename__ = "movies"
    __table_args__ = (
        CheckConstraint("vote_average >= 0 AND vote_average <= 10", name="vote_average_range"),
    )

    id: Mapped[IntPK]
    title: Mapped[str] = mapped_column(String(512), index=True)
    overview: Mapped[str] = mapped_column(Text, default="")
    genres: Mapped[str] = mapped_column(String(512), default="")
    tags: Mapped[str] = mapped_column(Text, default="")
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    release_date: Mapped[date | None] = mapped_column(Date)
    poster_path: Mapped[str | None] = mapped_column(String(1024))
    poster_file: Mapped[str | None] = mapped_column(String(1024))
    vote_average: Mapped[float] = mapped_column(Float, default=0.0)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    popularity: Mapped[float] = mapped_column(Float, default=0.0)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, index=True)
    imdb_id: Mapped[str | None] = mapped_column(String(16))
    movielens_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def genre_list(self) -> list[str]:
        return split_genres(self.genres)


def split_genres(genres: str) -> list[str]:
    """The stored "A|B" genres as a list, without MovieLens' "(no genres listed)"."""
    return [g for g in genres.split("|") if g and g != "(no genres listed)"]
