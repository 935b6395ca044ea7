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


# Rows per block (at most) when `nth_best_bound` bounds the n-th best value by the blocks' best.
TOP_N_BLOCK = 64


def nth_best_bound(values: np.ndarray, n: int) -> float:
    """A value that at least n of `values` reach (NaN ignored), from one pass: the n-th largest
    of its blocks' largest values (n blocks each hold one at least that large); -inf when fewer
    than n blocks hold a number. `top_n` sorts only the values at or above it."""
    block = min(TOP_N_BLOCK, values.size // n) if n > 0 else 0
    if block == 0:
        return -np.inf
    blocks = values.size // block
    best = np.fmax.reduce(values[: blocks * block].reshape(blocks, block), axis=1)
    best[np.isnan(best)] = -np.inf  # a block without a number must not raise the bound
    return float(np.partition(best, blocks - n)[blocks - n])


def top_n(scores: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of the n best scores, best first (ties by index), skipping excluded positions
    and non-finite scores (NaN, +-inf); only the scores at or above `nth_best_bound` are
    sorted."""
    values = np.array(scores, dtype=np.float64)  # a copy: excluded positions set to -inf
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude)
        values[ex[ex >= 0]] = -np.inf
    n = min(n, values.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    bound = nth_best_bound(values, n)
    part = np.flatnonzero(values >= bound if np.isfinite(bound) else np.isfinite(values))
    return part[np.lexsort((part, -values[part]))][:n]
