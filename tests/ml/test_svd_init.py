"""SVD's starting factors come from each user's and movie's id: a retrain with one more user
starts every other user and movie where it started before."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.interactions import Interactions
from backend.ml.svd import SVDModel, SVDParams, id_normals


def test_id_normals_are_a_function_of_the_id_and_seed_alone():
    some = id_normals(np.array([5, 7, 9]), 4, seed=3)
    assert some[1] == pytest.approx(id_normals(np.array([7]), 4, seed=3)[0])
    assert not np.allclose(some[1], id_normals(np.array([7]), 4, seed=4)[0])
    assert not np.allclose(some[0], some[1])
    many = id_normals(np.arange(5000), 50, seed=1)
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1.0) < 0.01
    assert np.isfinite(many).all()


def _ratings(rng: np.random.Generator, users: int) -> Interactions:
    n = users * 15
    return Interactions(
        np.repeat(np.arange(1, users + 1), 15), rng.integers(1, 60, n),
        rng.integers(1, 11, n) / 2.0,
    )  # fmt: skip


def test_a_retrain_with_one_more_user_keeps_everyone_elses_factors():
    data = _ratings(np.random.default_rng(0), 40)
    newcomer = Interactions(np.full(10, 99), np.arange(1, 11), np.full(10, 4.0))
    more = Interactions(*(np.r_[a, b] for a, b in (
        (data.user_ids, newcomer.user_ids), (data.item_ids, newcomer.item_ids),
        (data.ratings, newcomer.ratings))))  # fmt: skip
    params = SVDParams(n_factors=8, n_epochs=10)
    before, after = SVDModel.fit(data, params), SVDModel.fit(more, params)
    # The same users and movies, each from the same start: only the newcomer's own updates
    # (the last in each epoch) move the others, a little
    assert before.item_ids.tolist() == after.item_ids.tolist()
    assert np.abs(before.qi - after.qi).max() < 0.02
    assert np.abs(before.pu - after.pu[: len(before.pu)]).max() < 0.02
    # ... where the factors themselves are of the size of the starting spread (0.1)
    assert np.abs(before.qi).mean() > 0.05
