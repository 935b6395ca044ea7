"""MovieRecommender: SVD, content and hybrid recommendations for one user, in rank order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session

from backend.ml import data as ml_data
from backend.ml.blender import mmr_rerank
from backend.ml.content import cosine_scores, most_similar_rated, profile_weights
from backend.ml.runtime import RecommenderRuntime, get_runtime
from backend.ml.scoring import ScoringContext, UserSignals, top_n
from backend.models import Movie

log = logging.getLogger(__name__)

Method = Literal["svd", "hybrid", "hybrid_no_embeddings", "content", "popularity"]
COLD_USER_DIVERSITY = 0.3


@dataclass
class Recommendation:
    movie: Movie
    score: float
    reason: str
    method: str
    fallback: bool = False


class MovieRecommender:
    def __init__(self, db: Session, runtime: RecommenderRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or get_runtime()

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
        ctx = self.runtime.context(self.db)
        if ctx is None:
            log.info("no trained model yet: %s falls back to the popularity prior", method)
            return self._popularity(rated, n, fallback=True, method=method)
        if method == "svd":
            return self._svd(ctx, user_id, rated, ratings, n)
        if method == "content":
            return self._content(ctx, rated, ratings, n)
        if method == "popularity":
            return self._popularity(rated, n, fallback=False, method=method)
        return self._hybrid(ctx, user_id, rated, ratings, n, use_content=method == "hybrid")

    def _svd(self, ctx: ScoringContext, user_id: int, rated, ratings, n) -> list[Recommendation]:
        signals = ctx.user_signals(user_id, rated, ratings, use_content=False)
        if signals.svd_source == "prior":
            return self._popularity(rated, n, fallback=False, method="svd")
        scores = signals.signals["svd"].copy()
        unseen = ctx.svd_pos < 0
        if unseen.any():
            prior = self._prior_from_db(ctx.catalogue.item_ids)
            scores[unseen] = prior[unseen]
        picks = top_n(scores, n, signals.rated_positions)
        reasons = [
            "Not in the model yet: ranked by its popularity prior"
            if unseen[p]
            else f"Predicted {scores[p]:.1f} stars for you"
            for p in picks
        ]
        return self._build(ctx, picks, scores, reasons, "svd")

    def _hybrid(
        self, ctx: ScoringContext, user_id: int, rated, ratings, n: int, use_content: bool
    ) -> list[Recommendation]:
        method = "hybrid" if use_content else "hybrid_no_embeddings"
        fallback = False
        if use_content and not ctx.has_text:
            log.info("embedding index not ready: hybrid recommendations use the baseline blend")
            use_content, fallback = False, True
        if len(rated) == 0:
            return self._popularity(rated, n, fallback=fallback, method=method, varied=True)
        signals = ctx.user_signals(user_id, rated, ratings, use_content=use_content)
        bundle = ctx.bundle
        weights = bundle.blend_with_content if use_content else bundle.blend_without_content
        scores = ctx.blend(signals, weights)
        strength = self.runtime.settings.diversity_lambda
        pool = top_n(scores, max(n * 5, n) if strength > 0 else n, signals.rated_positions)
        if strength > 0 and ctx.has_text:
            pool = mmr_rerank(pool, scores[pool], ctx.content.text[pool], n, strength)
        picks = pool[:n]
        reasons, movies = self._reasons(ctx, signals, rated, ratings, picks)
        return self._build(ctx, picks, scores, reasons, method, fallback, movies)

    def _content(self, ctx: ScoringContext, rated, ratings, n: int) -> list[Recommendation]:
        if not ctx.has_text:
            log.info("embedding index not ready: content recommendations fall back to popularity")
            return self._popularity(rated, n, fallback=True, method="content")
        signals = ctx.user_signals(None, rated, ratings, use_content=True)
        if not signals.has_profile:
            return self._popularity(rated, n, fallback=False, method="content", varied=True)
        s = self.runtime.settings
        scores = s.text_weight * signals.signals["content_text"]
        if "content_image" in signals.signals:
            scores = scores + s.image_weight * signals.signals["content_image"]
        picks = top_n(scores, n, signals.rated_positions)
        reasons, movies = self._reasons(ctx, signals, rated, ratings, picks)
        return self._build(ctx, picks, scores, reasons, "content", movies=movies)

    def _popularity(
        self, rated: np.ndarray, n: int, *, fallback: bool, method: str, varied: bool = False
    ) -> list[Recommendation]:
        """Bayesian-average prior over the ratings table: trusts movies with many votes."""
        catalogue = self.runtime.catalogue(self.db)
        ctx = self.runtime.context(self.db) if varied else None
        scores = self._prior_from_db(catalogue.item_ids)
        exclude = catalogue.positions(rated)
        pool_size = n * 5 if varied else n
        picks = top_n(scores, pool_size, exclude)
        if varied and ctx is not None and ctx.has_text and len(picks) > n:
            picks = mmr_rerank(
                picks, scores[picks], ctx.content.text[picks], n, COLD_USER_DIVERSITY
            )
        picks = picks[:n]
        movies = ml_data.movies_by_ids(self.db, catalogue.item_ids[picks].tolist())
        by_id = {m.id: m for m in movies}
        out = []
        for p in picks:
            movie = by_id.get(int(catalogue.item_ids[p]))
            if movie is not None:
                out.append(
                    Recommendation(
                        movie,
                        float(scores[p]),
                        "Popular with viewers: highly rated by many people",
                        method,
                        fallback,
                    )
                )
        return out

    # ------------------------------------------------------------ helpers
    def _prior_from_db(self, item_ids: np.ndarray) -> np.ndarray:
        catalogue = self.runtime.catalogue(self.db)
        prior = self.runtime.popularity_prior(self.db, catalogue)
        if len(item_ids) == len(catalogue.item_ids) and np.array_equal(
            item_ids, catalogue.item_ids
        ):
            return prior
        pos = catalogue.positions(item_ids)
        return np.where(pos >= 0, prior[np.maximum(pos, 0)], float(np.median(prior)))

    def _reasons(
        self,
        ctx: ScoringContext,
        signals: UserSignals,
        rated: np.ndarray,
        ratings: np.ndarray,
        picks: np.ndarray,
    ) -> tuple[list[str], dict[int, Movie]]:
        """A reason per pick, and the picked and named movies, loaded in one query."""
        rated_pos = signals.rated_positions
        weights = profile_weights(ratings) if len(ratings) else np.zeros(0)
        best_idx = np.full(len(picks), -1)
        if ctx.has_text and len(rated):
            ok = rated_pos >= 0
            if ok.any():
                idx, _ = most_similar_rated(
                    ctx.content.text[picks], ctx.content.text[rated_pos[ok]], weights[ok]
                )
                best_idx = np.flatnonzero(ok)[idx]
        elif len(rated):
            best_idx = self._item_item_explainer(ctx, rated, weights, picks)
        named = {int(rated[j]) for j in best_idx if j >= 0}
        wanted = ctx.catalogue.item_ids[picks].tolist()
        movies = {m.id: m for m in ml_data.movies_by_ids(self.db, wanted + sorted(named))}
        titles = {movie_id: movies[movie_id].title for movie_id in named if movie_id in movies}
        reasons = []
        for k, p in enumerate(picks):
            if ctx.is_cold[p]:
                reasons.append("New and close to your taste")
            elif best_idx[k] >= 0:
                j = best_idx[k]
                stars = f"{ratings[j]:g} star" + ("" if ratings[j] == 1 else "s")
                reasons.append(f"Because you rated {titles.get(int(rated[j]), 'a movie')} {stars}")
            else:
                reasons.append("Popular among viewers with similar taste")
        return reasons, movies

    @staticmethod
    def _item_item_explainer(
        ctx: ScoringContext, rated: np.ndarray, weights: np.ndarray, picks: np.ndarray
    ) -> np.ndarray:
        model = ctx.bundle.items
        src = model.positions(rated)
        dst = ctx.item_pos[picks]
        out = np.full(len(picks), -1)
        ok_src, ok_dst = src >= 0, dst >= 0
        if not ok_src.any() or not ok_dst.any():
            return out
        block = model.weights[src[ok_src]][:, dst[ok_dst]].toarray()
        block = np.where(weights[ok_src][:, None] >= 0, block, -np.inf)
        best = np.argmax(block, axis=0)
        has = np.isfinite(block[best, np.arange(block.shape[1])]) & (
            block[best, np.arange(block.shape[1])] > 0
        )
        out[np.flatnonzero(ok_dst)[has]] = np.flatnonzero(ok_src)[best[has]]
        return out

    def _build(
        self,
        ctx: ScoringContext,
        picks: np.ndarray,
        scores: np.ndarray,
        reasons: list[str],
        method: str,
        fallback: bool = False,
        movies: dict[int, Movie] | None = None,
    ) -> list[Recommendation]:
        ids = ctx.catalogue.item_ids[picks].tolist()
        by_id = (
            movies if movies is not None else {m.id: m for m in ml_data.movies_by_ids(self.db, ids)}
        )
        return [
            Recommendation(by_id[i], float(scores[p]), reason, method, fallback)
            for i, p, reason in zip(ids, picks, reasons, strict=True)
            if i in by_id
        ]

    # ------------------------------------------------------------ similar movies
    def similar_movies(self, movie_id: int, n: int = 10) -> list[Recommendation]:
        ctx = self.runtime.context(self.db)
        catalogue = self.runtime.catalogue(self.db)
        content = ctx.content if ctx is not None else self.runtime.content_for(catalogue)
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
