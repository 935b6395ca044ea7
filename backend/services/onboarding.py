"""First-run movies to rate: well known, divisive enough to tell tastes apart, and spread
across genres and decades, computed from the catalogue's own ratings.

A movie is informative when many people know it (log of its rating count) and people
disagree about it (spread of its ratings) - the "log popularity x entropy" idea of Rashid et
al., "Getting to know you" (IUI 2002). Picks are then made greedily, damping movies whose
genres or decade the list already covers, so a newcomer sees a varied set.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.models import Movie, Rating

POOL_SIZE = 150  # the most-rated movies the picks are drawn from ("well known")
GENRE_DAMPING = 0.8  # per earlier pick sharing a genre (averaged over the movie's genres)
DECADE_DAMPING = 0.8  # per earlier pick from the same decade


def _candidates(db: Session, exclude: Collection[int]) -> list[tuple[Movie, int, float]]:
    """The pool: (movie, rating count, rating spread), most rated first, then TMDB votes."""
    stats = (
        select(
            Rating.movie_id.label("movie_id"),
            func.count(Rating.id).label("n"),
            func.avg(Rating.rating).label("mean"),
            func.avg(Rating.rating * Rating.rating).label("mean_sq"),
        )
        .group_by(Rating.movie_id)
        .subquery()
    )
    query = (
        select(Movie, stats.c.n, stats.c.mean, stats.c.mean_sq)
        .outerjoin(stats, stats.c.movie_id == Movie.id)
        .order_by(func.coalesce(stats.c.n, 0).desc(), Movie.vote_count.desc(), Movie.id.asc())
        .limit(POOL_SIZE + len(exclude))
    )
    rows = []
    for movie, n, mean, mean_sq in db.execute(query):
        if movie.id in exclude:
            continue
        spread = float(np.sqrt(max(0.0, mean_sq - mean * mean))) if n and n > 1 else np.nan
        rows.append((movie, int(n or 0), spread))
    return rows[:POOL_SIZE]


def onboarding_movies(
    db: Session, user_id: int, limit: int = 30, exclude: Collection[int] = ()
) -> list[Movie]:
    """Up to `limit` movies the user has not rated (nor listed in `exclude`), best first."""
    rated = set(db.scalars(select(Rating.movie_id).where(Rating.user_id == user_id)))
    pool = _candidates(db, rated | set(exclude))
    if not pool:
        return []
    movies = [m for m, _, _ in pool]
    counts = np.array([n for _, n, _ in pool], dtype=float)
    # TMDB vote counts stand in when the catalogue has no ratings for a movie yet.
    known = np.where(counts > 0, counts, [m.vote_count or 0 for m in movies])
    spread = np.array([s for _, _, s in pool], dtype=float)
    typical = np.nanmedian(spread) if np.isfinite(spread).any() else 1.0
    spread = np.where(np.isfinite(spread), spread, typical)
    value = np.log1p(known) * (spread + 0.1)

    genres = sorted({g for m in movies for g in m.genre_list})
    genre_matrix = np.array(
        [[g in m.genre_list for g in genres] for m in movies], dtype=float
    ).reshape(len(movies), len(genres))
    genre_share = genre_matrix / np.maximum(genre_matrix.sum(axis=1, keepdims=True), 1.0)
    _, decade = np.unique([(m.year or 0) // 10 for m in movies], return_inverse=True)

    picked: list[int] = []
    genre_picks = np.zeros(len(genres))
    decade_picks = np.zeros(decade.max() + 1)
    available = np.ones(len(movies), dtype=bool)
    for _ in range(min(limit, len(movies))):
        gain = (
            value
            * GENRE_DAMPING ** (genre_share @ genre_picks)
            * DECADE_DAMPING ** decade_picks[decade]
        )
        best = int(np.argmax(np.where(available, gain, -np.inf)))
        picked.append(best)
        available[best] = False
        genre_picks += genre_matrix[best]
        decade_picks[decade[best]] += 1
    return [movies[i] for i in picked]
