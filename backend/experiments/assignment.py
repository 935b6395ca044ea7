"""Deterministic, sticky traffic assignment by a hash of (experiment, user id).

The bucket of a user is the first 8 bytes of SHA-256 of ``"<experiment name>:<user id>"`` read
as a big-endian unsigned integer and divided by 2**64: a number in [0, 1) that is the same on
every worker and after every restart, and independent between experiments (the name salts it).
Variant *k* owns the slice of [0, 1) between the cumulative normalised shares of variants
``0..k-1`` and ``0..k``; a user belongs to the variant whose slice holds their bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def bucket(experiment: str, user_id: int) -> float:
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: str, user_id: int, shares: Sequence[float]) -> int:
    """Index of the variant that serves this user."""
    bounds = np.cumsum(np.asarray(shares, dtype=float))
    bounds /= bounds[-1]
    index = int(np.searchsorted(bounds, bucket(experiment, user_id), side="right"))
    return min(index, len(bounds) - 1)
