"""`top_n` and its bound (`nth_best_bound`; the pruned text pass picks its threshold rows
through `top_n`): the same rows as a full sort, with excluded positions and non-finite scores
skipped and ties by index."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.scoring import nth_best_bound, top_n


def _reference(scores: np.ndarray, n: int, exclude: np.ndarray) -> list[int]:
    keep = np.isfinite(scores)
    keep[exclude] = False
    rows = np.flatnonzero(keep)
    return rows[np.lexsort((rows, -scores[rows]))][:n].tolist()


@pytest.mark.parametrize("seed", range(40))
def test_top_n_is_a_full_sort_of_the_finite_unexcluded_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 3000))
    scores = rng.integers(0, 50, size).astype(np.float64)  # many ties
    scores[rng.random(size) < 0.2] = np.nan
    scores[rng.random(size) < 0.02] = -np.inf
    exclude = rng.choice(size, size // 3, replace=False)
    n = int(rng.integers(1, 60))
    assert top_n(scores, n, exclude).tolist() == _reference(scores, n, exclude)


def test_the_bound_is_reached_by_at_least_n_values_and_ignores_nan() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=5000)
    values[rng.random(5000) < 0.5] = np.nan
    for n in (1, 10, 100):
        assert (values >= nth_best_bound(values, n)).sum() >= n
    assert nth_best_bound(np.full(100, np.nan), 5) == -np.inf
    assert nth_best_bound(values, 0) == -np.inf
