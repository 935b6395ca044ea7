from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from backend.models import Rating
from backend.models.base import utcnow
from backend.services.errors import NotFoundError
from backend.services.feedback import attribute_rating
from backend.services.movies import get_movie


def upsert_rating(
    db: Session, user_id: int, movie_id: int, value: float, attribution_hours: float
) -> Rating:
    """Create or update the user's rating in one statement (safe under concurrent requests),
    then attribute it to the list that recently showed the movie, if one did."""
    get_movie(db, movie_id)
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    stmt = insert(Rating).values(user_id=user_id, movie_id=movie_id, rating=value, timestamp=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Rating.user_id, Rating.movie_id],
        set_={"rating": value, "timestamp": now},
    )
    db.execute(stmt)
    db.commit()
    rating = db.scalar(select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    assert rating is not None
    db.refresh(rating)
    attribute_rating(db, user_id, movie_id, value, now, attribution_hours)
    return rating


def delete_rating(db: Session, user_id: int, movie_id: int) -> None:
    get_movie(db, movie_id)
    rating = db.scalar(select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    if rating is None:
        raise NotFoundError(f"You have not rated movie {movie_id}")
    db.delete(rating)
    db.commit()


def list_user_ratings(
    db: Session, user_id: int, *, skip: int = 0, limit: int = 100
) -> list[Rating]:
    return list(
        db.scalars(
            select(Rating)
            .options(joinedload(Rating.movie))
            .where(Rating.user_id == user_id)
            .order_by(Rating.timestamp.desc(), Rating.id.desc())
            .offset(skip)
            .limit(limit)
        )
    )


def user_ratings_map(db: Session, user_id: int) -> dict[int, float]:
    rows = db.execute(select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id))
    return {movie_id: rating for movie_id, rating in rows}
