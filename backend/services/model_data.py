"""Read the arrays the models need from the database (the repository adapter under the core:
the database is the source of truth; backend.ml itself never reads it)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from backend.ml.index_store import MovieContent
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue
from backend.ml.text_encoder import TextEncoder
from backend.models import Movie, Rating
from backend.models.movie import split_genres


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


_ratings = Rating.__table__
# Built once: constructing the statement and its cache key cost more than the indexed read.
_USER_RATINGS = (
    select(_ratings.c.movie_id, _ratings.c.rating)
    .where(_ratings.c.user_id == bindparam("user_id"))
    .order_by(_ratings.c.timestamp, _ratings.c.id)
)


def user_ratings(db: Session, user_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(movie ids, stars) of one user in the order rated (the recency signal weighs the latest
    most), read on every recommendation: a Core query on the session's connection (the ORM's
    statement handling costs more than the read itself), its rows taken as the driver's plain
    tuples (making a Row of each cost more than the read for a user with thousands)."""
    result = db.connection().execute(_USER_RATINGS, {"user_id": user_id})
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0)
    movie_ids, stars = zip(*rows, strict=True)
    return np.array(movie_ids, dtype=np.int64), np.array(stars, dtype=np.float64)


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


# Built once (an expanding IN): building the statement cost about as much as the read.
_MOVIES_BY_IDS = select(Movie).where(Movie.id.in_(bindparam("ids", expanding=True)))


def movies_by_ids(db: Session, movie_ids: list[int]) -> list[Movie]:
    """Movies in the order of `movie_ids` (ids that no longer exist are skipped)."""
    if not movie_ids:
        return []
    found = {m.id: m for m in db.scalars(_MOVIES_BY_IDS, {"ids": movie_ids})}
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


@dataclass(frozen=True, slots=True)
class MovieRow:
    """A movie as the API shows it: a plain row, no ORM object (the HTTP path's movies)."""

    id: int
    title: str
    overview: str | None
    genres: str
    year: int | None
    release_date: date | None
    vote_average: float
    vote_count: int
    popularity: float
    tmdb_id: int | None
    imdb_id: str | None
    movielens_id: int | None

    @property
    def genre_list(self) -> list[str]:
        return split_genres(self.genres)


_MOVIE_ROW_COLUMNS = [Movie.__table__.c[f.name] for f in fields(MovieRow)]
_movie_table: tuple[str, dict[int, MovieRow]] | None = None
_movie_table_lock = threading.Lock()


def movie_rows(db: Session, catalogue_version: str, movie_ids: list[int]) -> list[MovieRow]:
    """Movies in the order of `movie_ids` from an in-memory table of the whole catalogue, read
    once per catalogue version (any movie write moves it), so a recommendation reads no movie
    rows at all. Ids not in the catalogue are skipped."""
    global _movie_table
    with _movie_table_lock:
        if _movie_table is None or _movie_table[0] != catalogue_version:
            rows = db.connection().execute(select(*_MOVIE_ROW_COLUMNS))
            _movie_table = (catalogue_version, {row[0]: MovieRow(*row) for row in rows})
        table = _movie_table[1]
    return [table[i] for i in movie_ids if i in table]
