"""Popularity priors that trust vote counts rather than raw means."""

from __future__ import annotations

import numpy as np


def bayesian_average(
    sums: np.ndarray, counts: np.ndarray, prior_mean: float, strength: float
) -> np.ndarray:
    """(strength * prior_mean + sum of ratings) / (strength + count), for every item at once."""
    counts = np.asarray(counts, dtype=np.float64)
    return (strength * prior_mean + np.asarray(sums, dtype=np.float64)) / (strength + counts)


def item_rating_stats(
    item_ids: np.ndarray, rated_items: np.ndarray, ratings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-item (sum, count) of ratings, aligned with `item_ids`."""
    order = np.argsort(item_ids)
    sorted_ids = item_ids[order]
    slot = np.searchsorted(sorted_ids, rated_items)
    slot = np.clip(slot, 0, max(len(sorted_ids) - 1, 0))
    valid = (sorted_ids[slot] == rated_items) if len(sorted_ids) else np.zeros(0, bool)
    sums = np.zeros(len(item_ids))
    counts = np.zeros(len(item_ids))
    np.add.at(sums, order[slot[valid]], ratings[valid])
    np.add.at(counts, order[slot[valid]], 1)
    return sums, counts
