"""Popularity priors that trust vote counts rather than raw means."""

from __future__ import annotations

import numpy as np


def bayesian_average(
    sums: np.ndarray, counts: np.ndarray, prior_mean: float, strength: float
) -> np.ndarray:
    """(strength * prior_mean + sum of ratings) / (strength + count), for every item at once."""
    counts = np.asarray(counts, dtype=np.float64)
    return (strength * prior_mean + np.asarray(sums, dtype=np.float64)) / (strength + counts)
