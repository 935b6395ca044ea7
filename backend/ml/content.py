"""Content scoring over the embedding index: user taste profiles and cosine similarities."""

from __future__ import annotations

import numpy as np


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
    """For each candidate, the liked rated movie closest to it (its index) and the similarity."""
    sims = candidate_vectors @ rated_vectors.T
    liked = np.asarray(rated_weights) > 0
    if liked.any():
        sims = np.where(liked[None, :], sims, -np.inf)
    best = np.argmax(sims, axis=1)
    return best, sims[np.arange(sims.shape[0]), best]
