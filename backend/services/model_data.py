"""Read the arrays the models need from the database (the repository adapter under the core:
the database is the source of truth; backend.ml itself never reads it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.ml.index_store import MovieContent
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue
from backend.ml.text_encoder import TextEncoder
from backend.models import Movie, Rating


def _array(rows) -> np.ndarray:  # noqa: ANN001
    """Rows as a float array; plain tuples first, since numpy probes every Row object slowly."""
    return np.array([tuple(row) for row in rows], dtype=np.float64)


def load_interactions(db: Session) -> Interactions:
    """Every rating, with when it was given (the blend learns from what users rated last)."""
    rows = db.execute(
        select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.timestamp)
    ).all()
    if not rows:
        return Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    arr = _array((u, m, r) for u, m, r, _ in rows)
    times = np.array([t.timestamp() if t else 0.0 for *_, t in rows], dtype=np.float64)
    return Interactions(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2], times)


def catalogue_version(db: Session) -> str:
    count, last, max_id = db.execute(
        select(func.count(Movie.id), func.max(Movie.updated_at), func.max(Movie.id))
    ).one()
    return f"{count}:{max_id}:{last}"


def load_catalogue(db: Session) -> Catalogue:
    version = catalogue_version(db)
    rows = db.execute(select(Movie.id, Movie.vote_count).order_by(Movie.id)).all()
    arr = _array(rows).reshape(-1, 2)
    return Catalogue(arr[:, 0].astype(np.int64), arr[:, 1], version=version)


def user_ratings(db: Session, user_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(movie ids, stars) of one user in the order rated (the recency signal weighs the latest
    most), read on every recommendation: a Core query on the session's connection (the ORM's
    statement handling costs more than the read itself)."""
    ratings = Rating.__table__
    rows = (
        db.connection()
        .execute(
            select(ratings.c.movie_id, ratings.c.rating)
            .where(ratings.c.user_id == user_id)
            .order_by(ratings.c.timestamp, ratings.c.id)
        )
        .all()
    )
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0)
    arr = _array(rows)
    return arr[:, 0].astype(np.int64), arr[:, 1]


def movie_contents(db: Session, max_movies: int | None = None) -> list[MovieContent]:
    query = select(
        Movie.id,
        Movie.title,
        Movie.year,
        Movie.genres,
        Movie.overview,
        Movie.tags,
        Movie.poster_file,
    ).order_by(Movie.id)
    if max_movies:
        query = query.limit(max_movies)
    items = []
    for movie_id, title, year, genres, overview, tags, poster in db.execute(query):
        text = TextEncoder.movie_text(
            title, year, genres, overview, [t for t in (tags or "").split("|") if t]
        )
        poster_path = Path(poster) if poster else None
        items.append(MovieContent(movie_id=int(movie_id), text=text, poster_path=poster_path))
    return items


def movies_by_ids(db: Session, movie_ids: list[int]) -> list[Movie]:
    """Movies in the order of `movie_ids` (ids that no longer exist are skipped)."""
    if not movie_ids:
        return []
    found = {m.id: m for m in db.scalars(select(Movie).where(Movie.id.in_(movie_ids)))}
    return [found[i] for i in movie_ids if i in found]


def rating_stats(db: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(movie ids, rating sums, rating counts) over the ratings table."""
    rows = db.execute(
        select(Rating.movie_id, func.sum(Rating.rating), func.count(Rating.id)).group_by(
            Rating.movie_id
        )
    ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    arr = _array(rows)
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]
