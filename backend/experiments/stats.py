"""Estimates with 95% intervals and two-sided tests for experiment reports.

The unit of randomisation is the user, so every metric is analysed per user: a ratio metric
(clicked impressions / impressions, say) is the ratio of the per-user sums, and its variance is
the delta-method variance of that ratio over users. Treating impressions as independent would
understate the variance whenever one user sees many lists. Set-valued metrics (catalogue
coverage) use a Poisson bootstrap over users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import chdtrc, ndtr, ndtri

CONFIDENCE = 0.95


def _z(confidence: float = CONFIDENCE) -> float:
    return float(ndtri(0.5 + confidence / 2))


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    se: float


@dataclass(frozen=True)
class Comparison:
    """``treatment - control`` with its interval and the two-sided p-value of "no difference"."""

    difference: float
    low: float
    high: float
    p_value: float
    relative: float | None


def _estimate(value: float, se: float, confidence: float) -> Estimate:
    half = _z(confidence) * se
    return Estimate(float(value), float(value - half), float(value + half), float(se))


def ratio_estimate(
    numerators: np.ndarray, denominators: np.ndarray, confidence: float = CONFIDENCE
) -> Estimate:
    """sum(numerators) / sum(denominators) over users, with a delta-method interval."""
    x = np.asarray(numerators, dtype=float)
    y = np.asarray(denominators, dtype=float)
    n = len(x)
    if n == 0 or y.sum() <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), float("nan"))
    ratio = x.sum() / y.sum()
    if n < 2:
        return _estimate(ratio, float("nan"), confidence)
    cov = np.cov(np.vstack([x, y]), ddof=1)
    variance = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * y.mean() ** 2)
    return _estimate(ratio, float(np.sqrt(max(variance, 0.0))), confidence)


def mean_estimate(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of per-user values with a normal-approximation interval."""
    return ratio_estimate(values, np.ones(len(values)), confidence)


def compare(control: Estimate, treatment: Estimate, confidence: float = CONFIDENCE) -> Comparison:
    """Two-sided z-test of independent estimates (Welch-style, unpooled standard errors)."""
    difference = treatment.value - control.value
    se = float(np.hypot(control.se, treatment.se))
    relative = difference / control.value if control.value else None
    if not np.isfinite(se) or not np.isfinite(difference):
        nan = float("nan")
        return Comparison(float(difference), nan, nan, nan, relative)
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = float(2 * ndtr(-abs(difference) / se))
    half = _z(confidence) * se
    return Comparison(float(difference), difference - half, difference + half, p_value, relative)


def coverage_replicates(
    user_items: sparse.csr_matrix, catalogue_size: int, rng: np.random.Generator, n_boot: int = 200
) -> tuple[float, np.ndarray]:
    """Share of the catalogue shown to these users, and Poisson-bootstrap replicates of it.

    ``user_items`` is a users x movies matrix, non-zero where the movie was shown to the user.
    """
    shown = user_items.getnnz(axis=0) > 0
    value = shown.sum() / catalogue_size
    weights = rng.poisson(1.0, size=(n_boot, user_items.shape[0])).astype(float)
    boot_shown = sparse.csr_matrix(weights) @ (user_items > 0).astype(float)
    replicates = np.asarray((boot_shown > 0).sum(axis=1)).ravel() / catalogue_size
    return float(value), replicates


def bootstrap_estimate(
    value: float, replicates: np.ndarray, confidence: float = CONFIDENCE
) -> Estimate:
    se = float(np.std(replicates, ddof=1)) if len(replicates) > 1 else float("nan")
    return _estimate(value, se, confidence)


def sample_ratio_mismatch(users: Sequence[int], shares: Sequence[float]) -> float:
    """p-value of a chi-square test that users split by the configured shares.

    A small value (under 0.001, say) means assignment or logging is broken, not that a variant
    is better: the report's other figures cannot be trusted then.
    """
    observed = np.asarray(users, dtype=float)
    total = observed.sum()
    if total == 0 or len(observed) < 2:
        return 1.0
    expected = total * np.asarray(shares, dtype=float) / np.sum(shares)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return float(chdtrc(len(observed) - 1, statistic))
