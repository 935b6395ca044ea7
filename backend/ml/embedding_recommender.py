"""EmbeddingRecommender: the seed's content-side facade (index build, quality metrics,
neighbours), a thin adapter over the services like `MovieRecommender`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.jobs.locks import exclusive
from backend.models import Movie
from backend.services import recommendations
from backend.services.embeddings import index_status
from backend.services.recommender_runtime import BuildReport, RecommenderRuntime, get_runtime


class EmbeddingRecommender:
    def __init__(self, db: Session, runtime: RecommenderRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or get_runtime()

    def _build_movie_embeddings_index(
        self, max_movies: int | None = None, progress: bool = False
    ) -> BuildReport:
        """Build (incrementally) and publish the index now, in this thread, under the job lock."""
        locks_dir = self.runtime.settings.locks_dir
        with exclusive(self.db.get_bind(), locks_dir, wait_seconds=3600):
            return self.runtime.build_index(self.db, max_movies=max_movies, progress=progress)

    def get_embedding_quality_metrics(self) -> dict:
        return index_status(self.db, self.runtime)

    def get_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return [
            r.movie for r in recommendations.recommend(self.db, self.runtime, user_id, n, "content")
        ]

    def get_similar_movies(self, movie_id: int, n: int = 10) -> list[Movie]:
        return [r.movie for r in recommendations.similar_movies(self.db, self.runtime, movie_id, n)]
