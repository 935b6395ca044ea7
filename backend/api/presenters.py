"""ORM objects and recommender results to response models."""

from __future__ import annotations

from pydantic import TypeAdapter

from backend.models import Movie
from backend.schemas.experiments import ServedRecommendation
from backend.schemas.movies import MovieOut, RecommendedMovie
from backend.services.impressions import REQUEST_ID_PLACEHOLDER
from backend.services.model_data import MovieRow
from backend.services.recommendations import Recommendation


def movie_out(movie: Movie | MovieRow) -> dict:
    return {
        "id": movie.id,
        "title": movie.title,
        "overview": movie.overview or "",
        "genres": movie.genre_list,
        "year": movie.year,
        "release_date": movie.release_date,
        "poster_url": f"/movies/{movie.id}/poster",
        "vote_average": movie.vote_average,
        "vote_count": movie.vote_count,
        "popularity": movie.popularity,
        "tmdb_id": movie.tmdb_id,
        "imdb_id": movie.imdb_id,
        "movielens_id": movie.movielens_id,
    }


def movie_model(movie: Movie) -> MovieOut:
    return MovieOut(**movie_out(movie))


def _recommendation_fields(rec: Recommendation) -> dict:
    return {
        **movie_out(rec.movie),
        "score": round(rec.score, 6),
        "reason": rec.reason,
        "method": rec.method,
        "fallback": rec.fallback,
        "predicted_rating": rec.predicted_rating,
    }


def recommendation_out(rec: Recommendation) -> RecommendedMovie:
    return RecommendedMovie(**_recommendation_fields(rec))


_SERVED_LIST = TypeAdapter(list[ServedRecommendation])


def served_recommendations_json(recs: list[Recommendation]) -> bytes:
    """The response body of a recommendations list (what the cache keeps), with a placeholder
    request id on each item that `impressions.record_served` swaps for the response's own."""
    return _SERVED_LIST.dump_json(
        [
            ServedRecommendation(**_recommendation_fields(r), request_id=REQUEST_ID_PLACEHOLDER)
            for r in recs
        ]
    )
