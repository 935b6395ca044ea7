from __future__ import annotations

from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, contains_eager

from backend.models import Movie, Rating, User
from backend.models.base import utcnow
from backend.services.errors import NotFoundError
from backend.services.feedback import attribute_rating
from backend.services.movies import get_movie


def upsert_rating(
    db: Session,
    user_id: int,
    movie_id: int,
    value: float,
    *,
    attribution_hours: float | None = None,
) -> Rating:
    """Create or update the user's rating in one statement that returns the stored row (a
    concurrent DELETE can never leave us holding nothing); the user's ratings version moves in
    the same transaction, so no cached list from before it can be served after it. With
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
    bump_ratings_versions(db, [user_id])
    db.commit()
    if attribution_hours is not None:
        attribute_rating(db, user_id, movie_id, value, now, attribution_hours)
    return rating


def delete_rating(db: Session, user_id: int, movie_id: int) -> None:
    """Remove the user's rating in one statement (safe against a concurrent PUT or DELETE:
    the effect is the same however often it runs; NotFoundError when nothing was there)."""
    get_movie(db, movie_id)
    deleted = db.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    ).rowcount
    if deleted:
        bump_ratings_versions(db, [user_id])
    db.commit()
    if not deleted:
        raise NotFoundError(f"You have not rated movie {movie_id}")


def bump_ratings_versions(db: Session, user_ids: list[int]) -> None:
    """Move the users' ratings versions (the recommendation cache keys on them); call inside
    the transaction that writes their ratings."""
    users = User.__table__
    for start in range(0, len(user_ids), 10_000):
        chunk = user_ids[start : start + 10_000]
        db.execute(
            update(users)
            .where(users.c.id.in_(chunk))
            .values(ratings_version=users.c.ratings_version + 1)
        )


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
