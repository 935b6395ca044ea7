"""EmbeddingRecommender: the content side on its own (index build, quality metrics, neighbours)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.ml.recommender import MovieRecommender
from backend.models import Movie
from backend.services.recommender_runtime import BuildReport, RecommenderRuntime, get_runtime


class EmbeddingRecommender:
    def __init__(self, db: Session, runtime: RecommenderRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or get_runtime()

    def _build_movie_embeddings_index(
        self, max_movies: int | None = None, progress: bool = False
    ) -> BuildReport:
        """Build (incrementally) and publish the index now, in this thread."""
        from backend.jobs.locks import exclusive

        locks_dir = self.runtime.settings.locks_dir
        with exclusive(self.db.get_bind(), locks_dir, wait_seconds=3600):
            return self.runtime.build_index(self.db, max_movies=max_movies, progress=progress)

    def get_embedding_quality_metrics(self) -> dict:
        from backend.services.embeddings import index_status

        return index_status(self.db, self.runtime)

    def get_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return MovieRecommender(self.db, self.runtime).get_embedding_recommendations(user_id, n)

    def get_similar_movies(self, movie_id: int, n: int = 10) -> list[Movie]:
        return [
            r.movie for r in MovieRecommender(self.db, self.runtime).similar_movies(movie_id, n)
        ]
