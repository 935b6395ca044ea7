"""Raw id -> row position lookups, vectorised (the raw-to-inner id mapping every model needs)."""

from __future__ import annotations

import numpy as np


class IdLookup:
    """Positions of raw ids in a fixed id array; -1 for ids it does not hold."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]

    def __call__(self, query: np.ndarray) -> np.ndarray:
        query = np.asarray(query, dtype=np.int64)
        if self._sorted.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        slot = np.clip(np.searchsorted(self._sorted, query), 0, self._sorted.size - 1)
        return np.where(self._sorted[slot] == query, self._order[slot], -1).astype(np.int64)
