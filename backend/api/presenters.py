"""ORM objects and recommender results to response models."""

from __future__ import annotations

from pydantic import TypeAdapter

from backend.models import Movie
from backend.schemas.experiments import ServedRecommendation
from backend.schemas.movies import MovieOut, RecommendedMovie
from backend.services.impressions import REQUEST_ID_PLACEHOLDER
from backend.services.model_data import MovieRow
from backend.services.recommendations import Recommendation

# MovieOut's fields that a movie holds as they are shown; the other three are derived below.
_AS_STORED = tuple(
    name for name in MovieOut.model_fields if name not in {"overview", "genres", "poster_url"}
)


def movie_out(movie: Movie | MovieRow) -> dict:
    fields = {name: getattr(movie, name) for name in _AS_STORED}
    fields["overview"] = movie.overview or ""
    fields["genres"] = movie.genre_list
    fields["poster_url"] = f"/movies/{movie.id}/poster"
    return fields


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
