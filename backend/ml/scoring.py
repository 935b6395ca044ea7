"""The catalogue (the one raw movie id <-> row mapping), the embeddings aligned with its rows,
and `top_n`: what every model scores over and ranks with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backend.ml.ids import IdLookup


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
    # Per-matrix mean row and covariance, filled on first use by `content.matrix_moments`.
    moments: dict = field(default_factory=dict, repr=False, compare=False)


# Rows per block (at most) when `top_n` bounds the n-th best score by the blocks' best ones.
TOP_N_BLOCK = 64


def top_n(scores: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the n best scores, best first (ties by index), skipping excluded positions
    and non-finite scores (NaN, +-inf).

    The n-th best of the blocks' best scores bounds the n-th best score (n blocks each hold
    one at least that good), so only the rows at or above that bound are sorted."""
    order = np.negative(scores, dtype=np.float64)  # ascending order = best first
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude)
        order[ex[ex >= 0]] = np.inf
    n = min(n, order.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    block = min(TOP_N_BLOCK, order.size // n)
    blocks = order.size // block
    lows = np.fmin.reduce(order[: blocks * block].reshape(blocks, block), axis=1)
    bound = np.partition(lows, n - 1)[n - 1]
    part = np.flatnonzero(order <= bound if np.isfinite(bound) else np.isfinite(order))
    return part[np.lexsort((part, order[part]))][:n]
