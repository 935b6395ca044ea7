"""Exact pruning of the text pass: the content_text z-scores of the rows that can reach a top-n.

The blend is linear in the content_text z-score, z = (x . p - p . mean) / sigma (mean and
sigma from `matrix_moments`), with a known coefficient per row. With the top `BASIS_DIMS`
principal directions V of the text matrix, a row's centred vector d = x - mean splits into its
projection a = d V (kept as a small float32 copy of the rows) and a residual r orthogonal to V,
so d . p = a . (V' p) + r . s with s = p - V V' p, and |r . s| <= |r| |s| (Cauchy-Schwarz):
every row gets an upper bound on its blend score from the other signals (computed in full) plus
the bounded text term. A threshold that the n-th best score reaches is the n-th best exact score
of some rows (n rows reach it): those of the n + `THRESHOLD_ROWS` rows with the best estimates.
Only the rows whose upper bound reaches it can be in the top n, and only they get the exact
product (a gather of a few dozen rows, against one pass over the whole matrix, which is bound by
memory bandwidth). The other rows' z-scores are NaN: never computed, never read.

The bound is taken in two steps, so that a request reads a small part of the projections: over
the top `HEAD_DIMS` directions for every row (a contiguous copy of those columns: half the bytes
of all BASIS_DIMS), then over the next ones for the rows that pass. On ml-latest-small (610
users, top 10) a median of 160 rows pass the first step (P99 ~1,800) and 35 the second (P99
~150), where a threshold from the n-th best lower bound left 187 (P99 1,526) to compute exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend.ml.content import ContentModel, matrix_moments
from backend.ml.scoring import top_n

# Principal directions kept: on ml-latest-small's MiniLM vectors 128 of 384 carry 79% of the
# variance, and the bound then leaves a median of ~190 of 9,742 rows to compute (P99 ~1,500;
# with 32 or 64 directions almost nothing is pruned).
BASIS_DIMS = 128
# Directions of the first step of the bound, read for every row. The pass's CPU time on
# ml-latest-small (610 users, the head sizes interleaved in one process): mean 0.60 ms with 48
# and 64 (P99 1.35 and 1.15), 0.65 with 80, 0.69 with 96.
HEAD_DIMS = 64
# Rows (beyond n) whose exact scores set the threshold: those with the best first-step estimate.
THRESHOLD_ROWS = 16
# Below this many rows (or with fewer than twice BASIS_DIMS dimensions) the full product is
# cheap and the bound cannot prune much: the full pass is kept.
PRUNE_FROM_ROWS = 2048
# Rounding slack, in units of |x| |p|: a float32 dot product of d terms errs by at most about
# d * 2^-24 of it; the bound widens by 8 times that (float32 products of the rows and of the
# projections, float64 centring and directions: worst cases about d and 0.7 d of it).
_SLACK_PER_DIM = 8 * 2.0**-24

_BASIS_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextBasis:
    """The principal directions of a text matrix and every row's parts along the top ones: the
    first HEAD_DIMS (`head`, read for every row) and the next ones up to BASIS_DIMS (`tail`,
    read for the rows the head's bound cannot rule out), each contiguous."""

    directions: np.ndarray  # (dims, dims) float64, orthonormal columns, largest variance first
    variances: np.ndarray  # (dims,) float64: the covariance's eigenvalues, in that order
    head: np.ndarray  # (rows, HEAD_DIMS) float32: (row - mean) @ directions[:, :HEAD_DIMS]
    tail: np.ndarray  # (rows, BASIS_DIMS - HEAD_DIMS) float32: the next directions' parts
    head_residual: np.ndarray  # (rows,) float64: |row - mean - its projection on the head|
    residual: np.ndarray  # (rows,) float64: |row - mean - its projection on both|
    slack: float  # rounding slack of one row's product, times the largest row norm


def text_basis(model: ContentModel) -> TextBasis | None:
    """The basis of `model`'s matrix, computed once per bound matrix (at bind, under a lock,
    like its moments: ~0.1 s on 9,742 x 384); None where pruning is not worth it."""
    if not model.ready:
        return None
    matrix = model._matrix
    rows, dims = matrix.shape
    if rows < PRUNE_FROM_ROWS or dims < 2 * BASIS_DIMS:
        return None
    cache = model.content.moments
    key = ("basis", id(matrix))
    found = cache.get(key)
    if found is None or found[0] is not matrix:
        with _BASIS_LOCK:
            found = cache.get(key)
            if found is None or found[0] is not matrix:
                found = cache[key] = (matrix, _fit_basis(model, matrix))
    return found[1]


def prunable_basis(model: ContentModel | None, names: list[str]) -> TextBasis | None:
    """The text model's basis when the blend `names` use content_text and its matrix is large
    enough to prune; None: the full pass."""
    if model is None or not {"content_text", "cold_content_text"} & set(names):
        return None
    return text_basis(model)


def _fit_basis(model: ContentModel, matrix: np.ndarray) -> TextBasis:
    mean, covariance = matrix_moments(model.content, matrix)
    values, vectors = np.linalg.eigh(covariance.astype(np.float64))
    order = np.argsort(-values)
    directions = np.ascontiguousarray(vectors[:, order])
    top = directions[:, :BASIS_DIMS]
    centred = np.asarray(matrix, dtype=np.float64) - mean
    projected = centred @ top
    centred -= projected @ top.T
    residual = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    head = min(HEAD_DIMS, BASIS_DIMS)
    tail = projected[:, head:]
    head_residual = np.sqrt(residual * residual + np.einsum("ij,ij->i", tail, tail))
    largest = float(np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64).max()))
    slack = _SLACK_PER_DIM * matrix.shape[1] * max(largest, 1.0)
    return TextBasis(
        directions,
        np.clip(values[order], 0.0, None),
        np.ascontiguousarray(projected[:, :head], dtype=np.float32),
        np.ascontiguousarray(tail, dtype=np.float32),
        head_residual,
        residual,
        slack,
    )


def pruned_text_z(
    model: ContentModel,
    basis: TextBasis,
    profile: np.ndarray | None,
    other: np.ndarray,
    coefficient: np.ndarray,
    n: int,
    skip: np.ndarray,
) -> np.ndarray:
    """content_text's z-scores, exact (as `standardised_rows` computes them) on every row whose
    blend score `other + coefficient * z` can be among the n best of the rows not in `skip`,
    NaN on the rest; zeros everywhere for a user without a text profile (the full path's
    standardised all-zero cosines)."""
    size = len(other)
    if profile is None:
        return np.zeros(size)
    mean, _ = matrix_moments(model.content, model._matrix)
    p = profile.astype(np.float64)
    # The profile in the principal directions gives the deviation of the products over the
    # catalogue (p' cov p, summed in float64) and the residual parts' norms at once; in float64,
    # so that its rounding stays far inside the slack (a float32 product could err by more than
    # the slack's budget in the worst case, for 7 us less a request). The z-scores differ from
    # the full pass's (mean and deviation of its float32 products) by float32 rounding over
    # sigma: served scores by at most 1e-6 on ml-latest-small.
    along = basis.directions.T @ p
    squares = along * along
    sigma = float(np.sqrt(squares @ basis.variances))
    if sigma < 1e-12:
        return np.zeros(size)
    heads = basis.head.shape[1]
    dims = heads + basis.tail.shape[1]
    # |the profile off the head's directions| and off all the basis's
    off_head, off_basis = np.sqrt(squares[heads:].sum()), np.sqrt(squares[dims:].sum())
    scale = coefficient / sigma
    width = np.abs(scale)
    slack = basis.slack * float(np.linalg.norm(p))
    centre = p @ mean
    z = np.full(size, np.nan)

    def exact(rows: np.ndarray) -> np.ndarray:
        """The rows' exact z-scores (kept in z) and blend scores."""
        z[rows] = (np.asarray(model._matrix[rows] @ profile, dtype=np.float64) - centre) / sigma
        return other[rows] + coefficient[rows] * z[rows]

    # First step, every row: the blend score with the text term estimated on the head.
    middle = np.multiply(basis.head @ along[:heads].astype(np.float32), scale)
    middle += other
    skip = skip[(skip >= 0) & (skip < size)]
    middle[skip] = -np.inf  # never picked: never computed
    threshold = _nth_exact_score(middle, n, exact)
    upper = np.multiply(basis.head_residual, off_head)
    upper += slack
    upper *= width
    upper += middle
    upper[skip] = np.nan
    rows = np.flatnonzero(upper >= threshold)
    # Second step, the rows that pass: the estimate over the tail's directions too.
    # (in float64 from here: a float32 bound could round below a row's exact score, and then
    # the threshold, where the text weight is 0)
    upper = np.multiply(basis.tail[rows] @ along[heads:dims].astype(np.float32), scale[rows])
    upper += middle[rows]
    upper += (basis.residual[rows] * off_basis + slack) * width[rows]
    rows = rows[upper >= threshold]
    exact(rows[np.isnan(z[rows])])
    return z


def _nth_exact_score(
    middle: np.ndarray, n: int, exact: Callable[[np.ndarray], np.ndarray]
) -> float:
    """The n-th best exact blend score among the n + THRESHOLD_ROWS rows with the best
    estimates `middle` (-inf: never picked), which `exact` computes; -inf when fewer than n
    rows can be picked. n rows reach it, so it is a threshold for the n best."""
    if n <= 0:
        return np.inf  # no top to reach
    picks = top_n(middle, n + THRESHOLD_ROWS)
    scores = exact(picks)
    return (
        float(np.partition(scores, len(picks) - n)[len(picks) - n]) if len(picks) >= n else -np.inf
    )
