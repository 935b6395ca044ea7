"""Exact pruning of the text pass: the content_text z-scores of the rows that can reach a top-n.

The blend is linear in the content_text z-score, z = (x . p - p . mean) / sigma (mean and
sigma from `matrix_moments`), with a known coefficient per row. With the top `BASIS_DIMS`
principal directions V of the text matrix, a row's centred vector d = x - mean splits into its
projection a = d V (kept as a small float32 copy of the rows) and a residual r orthogonal to V,
so d . p = a . (V' p) + r . s with s = p - V V' p, and |r . s| <= |r| |s| (Cauchy-Schwarz):
every row gets a lower and an upper bound on its blend score from the other signals (computed in
full) plus the bounded text term. The n-th best lower bound among the rows that may be picked is
a threshold that the n-th best score reaches; only the rows whose upper bound reaches it can be
in the top n, and only they get the exact product (a gather of a few hundred rows, against one
pass over the whole matrix, which is bound by memory bandwidth). The other rows' z-scores are
NaN: never computed, never read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from backend.ml.content import ContentModel, matrix_moments
from backend.ml.scoring import nth_best_bound

# Principal directions kept: on ml-latest-small's MiniLM vectors 128 of 384 carry 79% of the
# variance, and the bound then leaves a median of ~190 of 9,742 rows to compute (P99 ~1,500;
# with 32 or 64 directions almost nothing is pruned).
BASIS_DIMS = 128
# Below this many rows (or with fewer than twice BASIS_DIMS dimensions) the full product is
# cheap and the bound cannot prune much: the full pass is kept.
PRUNE_FROM_ROWS = 2048
# Rounding slack, in units of |x| |p|: a float32 dot product of d terms errs by at most about
# d * 2^-24 of it; the bound widens by 8 times that (float32 products of the rows and of the
# projections, float64 centring).
_SLACK_PER_DIM = 8 * 2.0**-24

_BASIS_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextBasis:
    """The principal directions of a text matrix and every row's parts along the top ones."""

    directions: np.ndarray  # (dims, dims) float64, orthonormal columns, largest variance first
    variances: np.ndarray  # (dims,) float64: the covariance's eigenvalues, in that order
    projected: np.ndarray  # (rows, BASIS_DIMS) float32: (row - mean) @ directions[:, :BASIS_DIMS]
    residual: np.ndarray  # (rows,) float64: |row - mean - its projection|
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
    largest = float(np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64).max()))
    slack = _SLACK_PER_DIM * matrix.shape[1] * max(largest, 1.0)
    variances = np.clip(values[order], 0.0, None)
    return TextBasis(directions, variances, projected.astype(np.float32), residual, slack)


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
    # catalogue (p' cov p, summed in float64) and the residual part's norm |s| at once. The
    # z-scores differ from the full pass's (mean and deviation of its float32 products) by
    # float32 rounding over sigma: served scores by at most 1e-6 on ml-latest-small.
    along = basis.directions.T @ p
    squares = along * along
    sigma = float(np.sqrt(squares @ basis.variances))
    if sigma < 1e-12:
        return np.zeros(size)
    rest = float(np.sqrt(squares[BASIS_DIMS:].sum()))
    scale = coefficient / sigma
    middle = np.multiply(basis.projected @ along[:BASIS_DIMS].astype(np.float32), scale)
    middle += other
    half = np.multiply(basis.residual, rest)
    half += basis.slack * float(np.linalg.norm(p))
    half *= np.abs(scale)
    lower = middle - half
    upper = np.add(middle, half, out=middle)
    skip = skip[(skip >= 0) & (skip < size)]
    lower[skip], upper[skip] = -np.inf, np.nan  # never picked: never computed
    rows = np.flatnonzero(upper >= nth_best_bound(lower, n))
    z = np.full(size, np.nan)
    z[rows] = (np.asarray(model._matrix[rows] @ profile, dtype=np.float64) - p @ mean) / sigma
    return z
