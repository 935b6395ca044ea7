from __future__ import annotations

from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, contains_eager

from backend.models import Movie, Rating
from backend.models.base import utcnow
from backend.services.cache import RecommendationCache
from backend.services.errors import NotFoundError
from backend.services.feedback import attribute_rating
from backend.services.movies import get_movie


def upsert_rating(
    db: Session,
    user_id: int,
    movie_id: int,
    value: float,
    *,
    cache: RecommendationCache | None = None,
    attribution_hours: float | None = None,
) -> Rating:
    """Create or update the user's rating in one statement that returns the stored row (a
    concurrent DELETE can never leave us holding nothing);
    the user's cached recommendations are invalidated once it is committed. With
    `attribution_hours`, the rating is credited to a list that showed the movie that recently."""
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
    if cache is not None:
        cache.bump_ratings_version(user_id)
    if attribution_hours is not None:
        attribute_rating(db, user_id, movie_id, value, now, attribution_hours)
    return rating


def delete_rating(
    db: Session, user_id: int, movie_id: int, *, cache: RecommendationCache | None = None
) -> None:
    """Remove the user's rating in one statement (safe against a concurrent PUT or DELETE:
    the effect is the same however often it runs; NotFoundError when nothing was there)."""
    get_movie(db, movie_id)
    deleted = db.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    ).rowcount
    db.commit()
    if cache is not None:
        cache.bump_ratings_version(user_id)
    if not deleted:
        raise NotFoundError(f"You have not rated movie {movie_id}")


RatingSort = Literal["date_desc", "date_asc", "rating_desc", "rating_asc", "title"]

_RATING_ORDER = {
    "date_desc": (Rating.timestamp.desc(), Rating.id.desc()),
    "date_asc": (Rating.timestamp.asc(), Rating.id.asc()),
    "rating_desc": (Rating.rating.desc(), Rating.timestamp.desc(), Rating.id.desc()),
    "rating_asc": (Rating.rating.asc(), Rating.timestamp.desc(), Rating.id.desc()),
    "title": (Movie.title.asc(), Rating.id.asc()),
}


def list_user_ratings(
    db: Session, user_id: int, *, skip: int = 0, limit: int = 100, sort: RatingSort = "date_desc"
) -> list[Rating]:
    return list(
        db.scalars(
            select(Rating)
            .join(Rating.movie)
            .options(contains_eager(Rating.movie))
            .where(Rating.user_id == user_id)
            .order_by(*_RATING_ORDER[sort])
            .offset(skip)
            .limit(limit)
        )
    )


def user_ratings_map(db: Session, user_id: int) -> dict[int, float]:
    rows = db.execute(select(Rating.movie_id, Rating.rating).where(Rating.user_id == user_id))
    return {movie_id: rating for movie_id, rating in rows}


def stored_ratings_fingerprint(db: Session, user_id: int) -> str:
    """Changes with every write or delete of the user's ratings, whichever process made it:
    rating ids are never reused and an update moves the timestamp."""
    ratings = Rating.__table__
    count, last_id, last_time = (
        db.connection()
        .execute(
            select(
                func.count(ratings.c.id), func.max(ratings.c.id), func.max(ratings.c.timestamp)
            ).where(ratings.c.user_id == user_id)
        )
        .one()
    )
    return f"{count}.{last_id}.{last_time}"
