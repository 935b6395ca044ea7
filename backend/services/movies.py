from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Movie, Rating
from backend.services.errors import NotFoundError

MovieSort = Literal["popularity", "title", "year", "vote_average", "vote_count", "id"]

# "Highest rated" trusts votes: a Bayesian average that pulls a movie's vote average towards the
# catalogue mean by PRIOR_VOTES phantom votes, and movies with fewer than MIN_VOTES votes after
# every movie that has enough (a single 10/10 vote must not open the list).
PRIOR_VOTES = 50
MIN_VOTES = 20


def _bayesian_vote_average():  # noqa: ANN202 - a SQL expression
    mean = (
        select(func.coalesce(func.avg(Movie.vote_average), 0.0))
        .where(Movie.vote_count > 0)
        .scalar_subquery()
    )
    return (Movie.vote_average * Movie.vote_count + mean * PRIOR_VOTES) / (
        Movie.vote_count + PRIOR_VOTES
    )


_SORT_COLUMNS = {
    "popularity": (Movie.popularity.desc(), Movie.vote_count.desc()),
    "vote_count": (Movie.vote_count.desc(),),
    "vote_average": (
        (Movie.vote_count >= MIN_VOTES).desc(),
        _bayesian_vote_average().desc(),
        Movie.vote_count.desc(),
    ),
    "title": (Movie.title.asc(),),
    "year": (Movie.year.desc(), Movie.title.asc()),
    "id": (),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_movies(
    db: Session,
    *,
    skip: int,
    limit: int,
    q: str | None = None,
    genre: str | None = None,
    sort: MovieSort = "popularity",
) -> tuple[list[Movie], int]:
    query = select(Movie)
    if q:
        query = query.where(Movie.title.ilike(f"%{_escape_like(q.strip())}%", escape="\\"))
    if genre:
        query = query.where(
            ("|" + Movie.genres + "|").ilike(f"%|{_escape_like(genre.strip())}|%", escape="\\")
        )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(*_SORT_COLUMNS[sort], Movie.id.asc()).offset(skip).limit(limit)
    ).all()
    return list(rows), total


def list_genres(db: Session) -> list[str]:
    genres: set[str] = set()
    for value in db.scalars(select(Movie.genres).distinct()):
        genres.update(g for g in (value or "").split("|") if g and g != "(no genres listed)")
    return sorted(genres)


def get_movie(db: Session, movie_id: int) -> Movie:
    movie = db.get(Movie, movie_id)
    if movie is None:
        raise NotFoundError(f"Movie {movie_id} not found")
    return movie


def user_rating_for(db: Session, user_id: int, movie_id: int) -> float | None:
    return db.scalar(
        select(Rating.rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )


def poster_file(db: Session, movie_id: int, posters_dir: Path) -> Path | None:
    """The movie's local poster if it exists on disk (unknown movies get the placeholder)."""
    movie = db.get(Movie, movie_id)
    if movie is None or not movie.poster_file:
        cached = posters_dir / f"{movie_id}.jpg"
        return cached if movie is not None and cached.is_file() else None
    path = Path(movie.poster_file)
    return path if path.is_file() else None
