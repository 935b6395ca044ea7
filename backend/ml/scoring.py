"""The catalogue (the one raw movie id <-> row mapping), the embeddings aligned with its rows,
and `top_n`: what every model scores over and ranks with."""

from __future__ import annotations

from dataclasses import dataclass

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
