from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload

from backend.models import Rating
from backend.models.base import utcnow
from backend.services.errors import NotFoundError
from backend.services.movies import get_movie


def upsert_rating(db: Session, user_id: int, movie_id: int, value: float) -> Rating:
    """Create or update the user's rating in one statement that returns the stored row, so
    a concurrent DELETE can never leave us holding nothing (no read-after-write)."""
    get_movie(db, movie_id)
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    stmt = (
        insert(Rating)
        .values(user_id=user_id, movie_id=movie_id, rating=value, timestamp=now)
        .on_conflict_do_update(
            index_elements=[Rating.user_id, Rating.movie_id],
            set_={"rating": value, "timestamp": now},
        )
        .returning(Rating)
        .execution_options(populate_existing=True)
    )
    rating = db.scalars(stmt).one()
    db.commit()
    return rating


def delete_rating(db: Session, user_id: int, movie_id: int) -> None:
    """Remove the user's rating in one statement (safe against a concurrent PUT or DELETE:
    the effect is the same however often it runs; NotFoundError when nothing was there)."""
    get_movie(db, movie_id)
    deleted = db.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    ).rowcount
    db.commit()
    if not deleted:
        raise NotFoundError(f"You have not rated movie {movie_id}")


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
