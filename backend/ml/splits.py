"""Train / held-out splits of ratings, per user: random (stratified) and temporal."""

from __future__ import annotations

import numpy as np

from backend.ml.interactions import Interactions


def per_user_split(
    data: Interactions, fraction: float, rng: np.random.Generator, min_ratings: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): `fraction` of each user's ratings held out, stratified."""
    test = np.zeros(len(data), dtype=bool)
    order = np.argsort(data.user_ids, kind="stable")
    _, starts, counts = np.unique(data.user_ids[order], return_index=True, return_counts=True)
    for start, count in zip(starts, counts, strict=True):
        if count < min_ratings:
            continue
        rows = order[start : start + count]
        k = max(1, int(round(count * fraction)))
        test[rng.choice(rows, size=k, replace=False)] = True
    return ~test, test


def temporal_split(
    data: Interactions, fraction: float, min_ratings: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): each user's latest `fraction` of ratings held out.

    What a user rates next is what a recommender must predict; a random split instead asks it to
    fill gaps in the past. Ties in time keep the file order. Users with fewer than `min_ratings`
    ratings stay whole in training. Without timestamps the file order stands in for time.
    """
    times = data.timestamps if data.timestamps is not None else np.arange(len(data))
    order = np.lexsort((np.arange(len(data)), times, data.user_ids))
    users = data.user_ids[order]
    _, starts, counts = np.unique(users, return_index=True, return_counts=True)
    rank = np.arange(len(data)) - np.repeat(starts, counts)  # position in the user's history
    size = np.repeat(counts, counts)
    n_test = np.where(size >= min_ratings, np.maximum(1, np.round(size * fraction)), 0)
    test = np.zeros(len(data), dtype=bool)
    test[order] = rank >= size - n_test
    return ~test, test


def validation_split(
    data: Interactions, how: str, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) masks: `how` is "temporal" (each user's latest ratings) or "random";
    without timestamps every split is a random one."""
    if how not in ("temporal", "random"):
        raise ValueError(f"unknown validation split {how!r}: temporal or random")
    if data.timestamps is None or how == "random":
        return per_user_split(data, fraction, rng)
    return temporal_split(data, fraction)
