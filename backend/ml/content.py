"""Content scoring over the embedding index: user taste profiles and cosine similarities."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from backend.ml.base import Recommender, UserHistory
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue, ContentMatrices


def profile_weights(ratings: np.ndarray, user_mean: float | None = None) -> np.ndarray:
    """How much each rated movie pulls the profile: its rating above or below the user's mean.

    A user whose ratings are all equal (or who has one rating) gets equal positive weights, so a
    single 5-star rating still defines a taste.
    """
    ratings = np.asarray(ratings, dtype=np.float64)
    mean = float(ratings.mean()) if user_mean is None else user_mean
    weights = ratings - mean
    if np.abs(weights).max(initial=0.0) < 1e-9:
        return np.ones_like(ratings)
    return weights


def user_profile(rated_vectors: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Weighted sum of the rated movies' unit vectors, normalised; None when it is empty."""
    if rated_vectors.shape[0] == 0:
        return None
    profile = np.asarray(weights, dtype=np.float32) @ rated_vectors
    norm = float(np.linalg.norm(profile))
    return None if norm < 1e-12 else (profile / norm).astype(np.float32)


def cosine_scores(matrix: np.ndarray, profile: np.ndarray | None) -> np.ndarray:
    """Cosine similarity of every row (rows are unit vectors) with the profile, in one product."""
    if profile is None:
        return np.zeros(matrix.shape[0], dtype=np.float32)
    return matrix @ profile


def most_similar_rated(
    candidate_vectors: np.ndarray, rated_vectors: np.ndarray, rated_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate, the liked rated movie closest to it (its index) and the similarity.

    One tall product, rated x candidates (BLAS runs it several times faster than the wide
    candidates x rated one, with the same dot products); ties go to the first liked movie."""
    sims = rated_vectors @ candidate_vectors.T
    liked = np.asarray(rated_weights) > 0
    if liked.any() and not liked.all():
        sims[~liked] = -np.inf
    best = np.argmax(sims, axis=0)
    return best, sims[best, np.arange(sims.shape[1])]


_MOMENTS_LOCK = threading.Lock()


def matrix_moments(content: ContentMatrices, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean row (float64) and the covariance (computed in float64, kept in float32: it is
    read on every request) over every catalogue row of one of `content`'s matrices, computed
    once per matrix: the mean and variance of `matrix @ p` over the catalogue are then p . mean
    and p' cov p for any profile p."""
    cache = content.moments
    found = cache.get(id(matrix))
    if found is None or found[0] is not matrix:
        with _MOMENTS_LOCK:  # computed once (~0.1 s), not by every request thread at a start
            found = cache.get(id(matrix))
            if found is None or found[0] is not matrix:
                values = np.array(matrix, dtype=np.float64)  # a copy: centred in place below
                mean = values.mean(axis=0)
                values -= mean
                covariance = (values.T @ values / len(values)).astype(np.float32)
                found = cache[id(matrix)] = (matrix, mean, covariance)
    return found[1], found[2]


def standardised_rows(
    model: ContentModel,
    user: UserHistory,
    rows: np.ndarray,
    rated: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """`blender.standardise(model.score(user))[rows]` (to rounding) without scoring the other
    rows, for any content model that scores `model._matrix @ model.profile(user)`: the mean and
    deviation over the catalogue follow from the profile and the matrix's moments
    (`matrix_moments`), so a signal the blend reads on a few rows costs a product with those
    rows only. `rated` as `ContentModel.profile` takes it (a gather another model made)."""
    profile = model.profile(user, rated) if model.ready else None
    if profile is None:  # all-zero cosines: standardised to zeros
        return np.zeros(len(rows))
    mean, covariance = matrix_moments(model.content, model._matrix)
    std = float(np.sqrt(max(float(profile @ (covariance @ profile)), 0.0)))
    if std < 1e-12:
        return np.zeros(len(rows))
    centre = profile.astype(np.float64) @ mean
    return (np.asarray(model._matrix[rows] @ profile, dtype=np.float64) - centre) / std


# Rows per block when several profiles score one matrix: a block stays in cache while every
# profile reads it (OpenBLAS packs a tall, two-column product slowly: 1.5x the time of blocks).
SCORE_BLOCK_ROWS = 1024


def score_together(models: dict[str, ContentModel], user: UserHistory) -> dict[str, np.ndarray]:
    """`model.score(user)` for each model, reading each embedding matrix from memory once: text
    and watch profiles share the text matrix, and a product over it is bound by memory
    bandwidth, so it is computed block by block for all the profiles at once."""
    by_matrix: dict[tuple[int, int], list[tuple[str, ContentModel]]] = {}
    for name, model in models.items():
        key = (id(model._matrix), id(model._present)) if model.ready else (id(model), 0)
        by_matrix.setdefault(key, []).append((name, model))
    out = {}
    for group in by_matrix.values():
        if len(group) == 1:
            out.update({name: model.score(user) for name, model in group})
            continue
        # The profiles share one gather of the rated movies' vectors (same matrix and mask).
        matrix, rated = group[0][1]._matrix, group[0][1].rated_vectors(user)
        profiles = [model.profile(user, rated) for _, model in group]
        if any(p is None for p in profiles):
            out.update({name: model.score(user) for name, model in group})
            continue
        stacked = np.column_stack(profiles)
        products = np.empty((matrix.shape[0], len(group)), dtype=np.float32)
        for start in range(0, matrix.shape[0], SCORE_BLOCK_ROWS):
            block = slice(start, start + SCORE_BLOCK_ROWS)
            np.matmul(matrix[block], stacked, out=products[block])
        out.update({name: products[:, j] for j, (name, _) in enumerate(group)})
    return out


class ContentModel(Recommender):
    """Cosine of each movie's embedding with the user's profile over their rated movies.

    `kind` "text" weighs rated movies by how much the user liked them (rating minus their mean),
    "watch" counts every rated movie the same ("what they watch" predicts what people choose to
    see next, notably new movies), "image" is "text" over poster embeddings. Nothing is learned
    from ratings: the embeddings come from the index, aligned with the catalogue.
    """

    def __init__(self, kind: str, content: ContentMatrices | None = None) -> None:
        if kind not in ("text", "watch", "image"):
            raise ValueError(f"unknown content kind {kind!r}")
        self.kind = kind
        self.name = "content_" + kind
        self.content = content
        self.catalogue = None

    @classmethod
    def fit(  # type: ignore[override]
        cls,
        data: Interactions | None = None,  # noqa: ARG003 - content needs no ratings
        kind: str = "text",
        content: ContentMatrices | None = None,
        catalogue: Catalogue | None = None,
    ) -> ContentModel:
        model = cls(kind, content)
        return model.bind(catalogue) if catalogue is not None else model

    @property
    def ready(self) -> bool:
        return self.content is not None and self._matrix is not None

    def _align(self, catalogue: Catalogue) -> None:
        c = self.content
        image = self.kind == "image"
        self._matrix = None if c is None else (c.image if image else c.text)
        self._present = None if c is None else (c.has_image if image else c.has_text)

    def _embedded(self, user: UserHistory) -> np.ndarray | None:
        """Mask of the user's rated movies that have an embedding; None when there are none."""
        if not self.ready or len(user) == 0:
            return None
        ok = user.rows >= 0
        ok[ok] = self._present[user.rows[ok]]
        return ok if ok.any() else None

    def profile(
        self, user: UserHistory, rated: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray | None:
        """The user's unit taste vector; `rated` is (the `_embedded` mask, the vectors of those
        movies) when another model over this matrix has gathered them for this user."""
        rated = self.rated_vectors(user) if rated is None else rated
        if rated is None:
            return None
        ok, vectors = rated
        weights = np.ones(len(user)) if self.kind == "watch" else profile_weights(user.ratings)
        return user_profile(vectors, weights[ok])

    def score(self, user: UserHistory) -> np.ndarray:
        if not self.ready:
            return np.zeros(len(self.catalogue.item_ids), dtype=np.float32)
        return cosine_scores(self._matrix, self.profile(user))

    def rated_vectors(self, user: UserHistory) -> tuple[np.ndarray, np.ndarray] | None:
        """(the `_embedded` mask, those movies' vectors): one gather that every profile and
        reason over this matrix can share (`profile`'s and `nearest_liked`'s `rated`)."""
        ok = self._embedded(user)
        if ok is None:
            return None
        # np.take gathers rows faster than fancy indexing (a memmap's result: a plain array)
        return ok, np.asarray(np.take(self._matrix, user.rows[ok], axis=0))

    def nearest_liked(
        self,
        user: UserHistory,
        rows: np.ndarray,
        rated: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """For each of `rows`, the index (into the user's history) of the liked movie whose
        story is closest; -1 where none has an embedding. `rated`: `rated_vectors(user)`."""
        rated = self.rated_vectors(user) if rated is None else rated
        if rated is None:
            return np.full(len(rows), -1)
        ok, gathered = rated
        # Only liked movies can be named: `most_similar_rated` skips the others (all are
        # candidates when none is liked), on the gather as it is (no copy of the liked rows).
        idx, _ = most_similar_rated(self._matrix[rows], gathered, profile_weights(user.ratings)[ok])
        return np.flatnonzero(ok)[idx]

    def save(self, directory: Path) -> None:
        """Nothing to write: the embeddings live in the index store."""

    @classmethod
    def load(cls, directory: Path) -> ContentModel:  # noqa: ARG003
        return cls("text")
