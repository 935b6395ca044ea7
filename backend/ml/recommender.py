"""MovieRecommender: the seed's facade, a thin database adapter over `HybridRecommender`.

It reads the user's ratings, asks the current hybrid (or one of its signal models) to rank,
and turns rows into movies with a truthful reason and the served rating prediction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session

from backend.ml import data as ml_data
from backend.ml.blender import mmr_rerank
from backend.ml.content import cosine_scores
from backend.ml.hybrid import Explanation, HybridRecommender
from backend.ml.scoring import top_n
from backend.models import Movie
from backend.services.recommender_runtime import (
    RecommenderRuntime,
    get_runtime,
    pin_serving_blas,
)

log = logging.getLogger(__name__)

Method = Literal["svd", "hybrid", "hybrid_no_embeddings", "content", "popularity"]
COLD_USER_DIVERSITY = 0.3
POPULAR_REASON = "Popular with viewers: highly rated by many people"
# The hybrid's popularity signals count votes (here and on TMDB), not how high they are.
WIDELY_WATCHED = "Popular with viewers: widely watched"


@dataclass
class Recommendation:
    movie: Movie
    score: float
    reason: str
    method: str
    fallback: bool = False
    predicted_rating: float | None = None


class MovieRecommender:
    def __init__(self, db: Session, runtime: RecommenderRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or get_runtime()
        pin_serving_blas(self.runtime.settings)

    # ------------------------------------------------------------ public API (movie objects)
    def get_svd_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return [r.movie for r in self.recommend(user_id, n, "svd")]

    def get_embedding_recommendations(self, user_id: int, n: int = 10) -> list[Movie]:
        return [r.movie for r in self.recommend(user_id, n, "content")]

    def get_hybrid_recommendations(
        self, user_id: int, n_recommendations: int = 10, use_embeddings: bool = True
    ) -> list[Movie]:
        method = "hybrid" if use_embeddings else "hybrid_no_embeddings"
        return [r.movie for r in self.recommend(user_id, n_recommendations, method)]

    # ------------------------------------------------------------ ranking
    def recommend(
        self, user_id: int, n: int = 10, method: Method = "hybrid"
    ) -> list[Recommendation]:
        rated, ratings = ml_data.user_ratings(self.db, user_id)
        hybrid = self.runtime.context(self.db)
        if hybrid is None:
            log.info("no trained model yet: %s falls back to the popularity prior", method)
            return self._popularity(rated, n, fallback=True, method=method)
        user = hybrid.user(user_id, rated, ratings)
        use_content = method in ("hybrid", "content")
        fallback = use_content and not hybrid.has_text
        if fallback:
            log.info("embedding index not ready: %s recommendations use the baseline", method)
        if method == "popularity" or len(rated) == 0:
            return self._popularity(rated, n, fallback=fallback, method=method, varied=True)
        if method == "svd":
            picks = hybrid.model("svd").rank(user, n, exclude=np.flatnonzero(hybrid.is_cold))
            reasons = [Explanation("taste")] * len(picks)
            scores = hybrid.model("svd").score(user)
        elif method == "content" and not fallback:
            model = hybrid.model("content_text")
            scores = model.score(user)
            picks = model.rank(user, n)
            reasons = [Explanation("content", j) for j in model.nearest_liked(user, picks)]
        else:
            features, weights = hybrid.blend_features(user, use_content)
            scores = weights.score(features)
            picks = self._diversified(hybrid, scores, user.rows, n)
            reasons = hybrid.explain(user, picks, use_content, features=features)
        return self._build(hybrid, user, picks, scores, reasons, method, fallback)

    def _diversified(
        self, hybrid: HybridRecommender, scores: np.ndarray, rated_rows: np.ndarray, n: int
    ) -> np.ndarray:
        strength = self.runtime.settings.diversity_lambda
        if strength <= 0 or not hybrid.has_text:
            return top_n(scores, n, rated_rows)
        pool = top_n(scores, n * 5, rated_rows)
        return mmr_rerank(pool, scores[pool], hybrid.content.text[pool], n, strength)

    def _popularity(
        self, rated: np.ndarray, n: int, *, fallback: bool, method: str, varied: bool = False
    ) -> list[Recommendation]:
        """Bayesian-average prior over the ratings table: trusts movies with many votes."""
        catalogue = self.runtime.catalogue(self.db)
        hybrid = self.runtime.context(self.db) if varied else None
        scores = self.runtime.popularity_prior(self.db, catalogue)
        picks = top_n(scores, n * 5 if varied else n, catalogue.positions(rated))
        if varied and hybrid is not None and hybrid.has_text and len(picks) > n:
            picks = mmr_rerank(
                picks, scores[picks], hybrid.content.text[picks], n, COLD_USER_DIVERSITY
            )
        picks = picks[:n]
        movies = ml_data.movies_by_ids(self.db, catalogue.item_ids[picks].tolist())
        by_id = {m.id: m for m in movies}
        out = []
        for p in picks:
            movie = by_id.get(int(catalogue.item_ids[p]))
            if movie is not None:
                out.append(
                    Recommendation(movie, float(scores[p]), POPULAR_REASON, method, fallback)
                )
        return out

    # ------------------------------------------------------------ reasons and movies
    def _build(
        self,
        hybrid: HybridRecommender,
        user,  # noqa: ANN001 - backend.ml.base.UserHistory
        picks: np.ndarray,
        scores: np.ndarray,
        reasons: list[Explanation],
        method: str,
        fallback: bool = False,
    ) -> list[Recommendation]:
        """Movies, reasons and predicted stars for the picks; movies loaded in one query."""
        ids = hybrid.catalogue.item_ids[picks].tolist()
        named = {int(user.item_ids[r.source]) for r in reasons if r.source >= 0}
        by_id = {m.id: m for m in ml_data.movies_by_ids(self.db, ids + sorted(named))}
        stars = hybrid.predicted_ratings(user, picks)
        out = []
        for k, (movie_id, p) in enumerate(zip(ids, picks, strict=True)):
            if movie_id not in by_id:
                continue
            reason = self._reason(reasons[k], user, by_id)
            predicted = None if np.isnan(stars[k]) else round(float(stars[k]), 1)
            out.append(
                Recommendation(
                    by_id[movie_id], float(scores[p]), reason, method, fallback, predicted
                )
            )
        return out

    @staticmethod
    def _reason(why: Explanation, user, movies: dict[int, Movie]) -> str:  # noqa: ANN001
        title = None
        if why.source >= 0:
            movie = movies.get(int(user.item_ids[why.source]))
            title = movie.title if movie else "a movie you rated"
        if why.kind == "collaborative" and title:
            rating = user.ratings[why.source]
            stars = f"{rating:g} star" + ("" if rating == 1 else "s")
            return f"Because you rated {title} {stars}"
        if why.kind == "content" and title:
            return f"Similar story to {title}"
        if why.kind == "new":
            return (
                f"New in the catalogue, similar story to {title}"
                if title
                else ("New in the catalogue")
            )
        if why.kind == "trending":
            return "Trending: many viewers rated it recently"
        if why.kind == "taste":
            return "Viewers with taste like yours rate it highly"
        return WIDELY_WATCHED

    # ------------------------------------------------------------ similar movies
    def similar_movies(self, movie_id: int, n: int = 10) -> list[Recommendation]:
        hybrid = self.runtime.context(self.db)
        catalogue = self.runtime.catalogue(self.db)
        content = hybrid.content if hybrid is not None else self.runtime.content_for(catalogue)
        pos = int(catalogue.positions(np.array([movie_id]))[0])
        if content is None or pos < 0 or not content.has_text[pos]:
            return []
        s = self.runtime.settings
        ann = self.runtime.neighbour_index(content) if content.image is None else None
        if ann is not None:
            rows, sims = ann.search(content.text[pos], n + 1)
            keep = rows != pos
            picks, picked_scores = rows[keep][:n], s.text_weight * sims[keep][:n]
        else:
            scores = s.text_weight * cosine_scores(content.text, content.text[pos])
            if content.image is not None and content.has_image[pos]:
                scores = scores + s.image_weight * cosine_scores(content.image, content.image[pos])
            scores = np.where(content.has_text, scores, -np.inf)
            picks = top_n(scores, n, np.array([pos]))
            picked_scores = scores[picks]
        ids = catalogue.item_ids[picks].tolist()
        by_id = {m.id: m for m in ml_data.movies_by_ids(self.db, ids)}
        source = by_id.get(movie_id) or self.db.get(Movie, movie_id)
        title = source.title if source else "this movie"
        return [
            Recommendation(
                by_id[i], float(score), f"Similar in story and genre to {title}", "content"
            )
            for i, score in zip(ids, picked_scores, strict=True)
            if i in by_id
        ]
