"""MovieRecommender: the seed's facade, a thin adapter over backend.services.recommendations.

It sits above the service layer (like the API) although it lives in backend/ml, so that
`from backend.ml.recommender import MovieRecommender` keeps working; the ranking, reasons and
movie loading are the service's (the same code the API serves).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.models import Movie
from backend.services import recommendations
from backend.services.recommendations import Method, Recommendation
from backend.services.recommender_runtime import (
    RecommenderRuntime,
    get_runtime,
    pin_serving_blas,
)


class MovieRecommender:
    def __init__(self, db: Session, runtime: RecommenderRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or get_runtime()
        pin_serving_blas(self.runtime.settings)

    def get_svd_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return [r.movie for r in self.recommend(user_id, n, "svd")]

    def get_embedding_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return [r.movie for r in self.recommend(user_id, n, "content")]

    def get_hybrid_recommendations(
        self, user_id: int, n_recommendations: int = 10, use_embeddings: bool = True
    ) -> list[Movie]:
        method = "hybrid" if use_embeddings else "hybrid_no_embeddings"
        return [r.movie for r in self.recommend(user_id, n_recommendations, method)]

    def recommend(
        self, user_id: int, n: int = 10, method: Method = "hybrid"
    ) -> list[Recommendation]:
        return recommendations.recommend(self.db, self.runtime, user_id, n, method)

    def similar_movies(self, movie_id: int, n: int = 10) -> list[Recommendation]:
        return recommendations.similar_movies(self.db, self.runtime, movie_id, n)
