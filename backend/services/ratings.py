from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from backend.models import Rating
from backend.models.base import utcnow
from backend.services.cache import RecommendationCache
from backend.services.errors import NotFoundError
from backend.services.movies import get_movie


def upsert_rating(
    db: Session,
    user_id: int,
    movie_id: int,
    value: float,
    *,
    cache: RecommendationCache | None = None,
) -> Rating:
    """Create or update the user's rating in one statement (safe under concurrent requests);
    the user's cached recommendations are invalidated once it is committed."""
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
    if cache is not None:
        cache.bump_ratings_version(user_id)
    rating = db.scalar(select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    assert rating is not None
    db.refresh(rating)
    return rating


def delete_rating(
    db: Session, user_id: int, movie_id: int, *, cache: RecommendationCache | None = None
) -> None:
    get_movie(db, movie_id)
    rating = db.scalar(select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id))
    if rating is None:
        raise NotFoundError(f"You have not rated movie {movie_id}")
    db.delete(rating)
    db.commit()
    if cache is not None:
        cache.bump_ratings_version(user_id)


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
