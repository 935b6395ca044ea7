"""Everything needed to score the whole catalogue for one user, aligned once per model version.

A `ScoringContext` joins a trained `ModelBundle`, the catalogue (all movie ids) and, optionally,
the content embeddings, and caches how their rows line up. Scoring a user is then a handful of
vectorised array operations over all movies: no loop over items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backend.ml.blender import BlendWeights, feature_matrix
from backend.ml.content import cosine_scores, profile_weights, user_profile
from backend.ml.ids import IdLookup
from backend.ml.item_model import ItemItemModel
from backend.ml.svd import SVDModel


@dataclass
class Catalogue:
    """All movies that can be recommended, with metadata popularity (e.g. TMDB vote_count)."""

    item_ids: np.ndarray
    metadata_votes: np.ndarray
    version: str = ""

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids, dtype=np.int64)
        self.metadata_votes = np.asarray(self.metadata_votes, dtype=np.float64)
        self._lookup = IdLookup(self.item_ids)

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        return self._lookup(item_ids)


@dataclass
class ContentMatrices:
    """Embeddings aligned with catalogue rows (zeros and has_* False where a movie has none)."""

    text: np.ndarray | None
    image: np.ndarray | None
    has_text: np.ndarray
    has_image: np.ndarray
    image_pretrained: bool = False
    version: str = ""


@dataclass
class ModelBundle:
    svd: SVDModel
    items: ItemItemModel
    popularity_ids: np.ndarray
    popularity_counts: np.ndarray
    blend_with_content: BlendWeights
    blend_without_content: BlendWeights
    meta: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", ""))


@dataclass
class UserSignals:
    signals: dict[str, np.ndarray]
    rated_positions: np.ndarray
    has_profile: bool
    svd_source: str


class ScoringContext:
    def __init__(
        self, bundle: ModelBundle, catalogue: Catalogue, content: ContentMatrices | None = None
    ) -> None:
        self.bundle = bundle
        self.catalogue = catalogue
        self.content = content
        ids = catalogue.item_ids
        self.svd_pos = bundle.svd.item_positions(ids)
        svd = bundle.svd
        known = self.svd_pos >= 0
        safe = np.maximum(self.svd_pos, 0)
        # Gathered once per model version, so a request is one contiguous matrix-vector product.
        self._svd_base = svd.global_mean + np.where(known, svd.bi[safe], 0.0)
        # float32 halves the memory traffic; rankings do not change (SVDModel stays float64).
        self._svd_factors = np.where(known[:, None], svd.qi[safe], 0.0).astype(np.float32)
        self.item_pos = bundle.items.positions(ids)
        pop_slot = _align(bundle.popularity_ids, ids)
        counts = np.where(pop_slot >= 0, bundle.popularity_counts[np.maximum(pop_slot, 0)], 0.0)
        self.train_counts = counts
        self.is_cold = counts == 0
        self.log_popularity = np.log1p(counts)
        self.log_metadata = np.log1p(np.maximum(catalogue.metadata_votes, 0.0))
        self.version = f"{bundle.version}|{catalogue.version}|{content.version if content else ''}"

    @property
    def has_text(self) -> bool:
        return self.content is not None and self.content.text is not None

    @property
    def has_real_image(self) -> bool:
        c = self.content
        return c is not None and c.image is not None and c.image_pretrained and c.has_image.any()

    def user_signals(
        self, user_id: int | None, rated_items: np.ndarray, ratings: np.ndarray, use_content: bool
    ) -> UserSignals:
        rated_items = np.asarray(rated_items, dtype=np.int64)
        ratings = np.asarray(ratings, dtype=np.float64)
        rated_pos = self.catalogue.positions(rated_items)
        svd = self.bundle.svd
        vector, source = None, "prior"
        if user_id is not None and svd.knows_user(user_id):
            vector, source = svd.user_vector(user_id), "trained"
        elif len(rated_items):
            vector = svd.fold_in(rated_items, ratings)
            source = "fold-in" if vector is not None else "prior"
        svd_scores = self._svd_scores(vector)
        signals = {
            "svd": svd_scores,
            "item_item": self._item_scores(rated_items),
            "popularity": self.log_popularity,
            "metadata_popularity": self.log_metadata,
        }
        has_profile = False
        if use_content and self.has_text:
            weights = profile_weights(ratings) if len(ratings) else np.zeros(0)
            text_profile = self._profile(
                self.content.text, self.content.has_text, rated_pos, weights
            )
            # "What they watch" (every rated movie counts the same) predicts what people choose
            # to see next better than "what they liked" does, notably for unrated new movies.
            watch_profile = self._profile(
                self.content.text, self.content.has_text, rated_pos, np.ones(len(rated_pos))
            )
            # Two matrix-vector products: on one BLAS thread they beat one (n x 2) product.
            signals["content_text"] = cosine_scores(self.content.text, text_profile)
            signals["content_watch"] = cosine_scores(self.content.text, watch_profile)
            has_profile = text_profile is not None
            if self.has_real_image:
                image_profile = self._profile(
                    self.content.image, self.content.has_image, rated_pos, weights
                )
                signals["content_image"] = cosine_scores(self.content.image, image_profile)
        return UserSignals(signals, rated_pos, has_profile, source)

    def blend(self, user: UserSignals, weights: BlendWeights) -> np.ndarray:
        available = dict(user.signals)
        for name in weights.names:
            base = name[5:] if name.startswith("cold_") else name
            if base != "cold" and base not in available:
                available[base] = np.zeros(len(self.catalogue.item_ids))
        features = feature_matrix(available, self.is_cold, weights.names)
        return weights.score(features)

    def _svd_scores(self, vector: tuple[float, np.ndarray] | None) -> np.ndarray:
        if vector is None:
            return np.clip(self._svd_base, 0.5, 5.0)
        user = np.asarray(vector[1], dtype=np.float32)
        return np.clip(self._svd_base + vector[0] + self._svd_factors @ user, 0.5, 5.0)

    def _item_scores(self, rated_items: np.ndarray) -> np.ndarray:
        if len(rated_items) == 0:
            return np.zeros(len(self.catalogue.item_ids))
        return self.bundle.items.score_items(
            rated_items, self.catalogue.item_ids, target_positions=self.item_pos
        )

    @staticmethod
    def _profile(
        matrix: np.ndarray, present: np.ndarray, rated_pos: np.ndarray, weights: np.ndarray
    ) -> np.ndarray | None:
        if len(rated_pos) == 0:
            return None
        ok = rated_pos >= 0
        ok[ok] = present[rated_pos[ok]]
        if not ok.any():
            return None
        return user_profile(np.asarray(matrix[rated_pos[ok]]), weights[ok])


def _align(source_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
    """Position in `source_ids` of each target id, -1 when absent."""
    return IdLookup(source_ids)(target_ids)


def top_n(scores: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the n best scores, best first, skipping excluded positions."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude)
        scores[ex[ex >= 0]] = -np.inf
    valid = int(np.isfinite(scores).sum())
    n = min(n, valid)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.lexsort((part, -scores[part]))]
