"""The blend's validation split: each user's latest ratings, or a random share of them."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.interactions import Interactions
from backend.ml.splits import validation_split


def _data() -> Interactions:
    # user 1: 10 ratings at times 0..9; user 2: 20 at times 0..19 (file order shuffled);
    # user 3: 4 ratings (too few to hold any out)
    users = np.repeat([1, 2, 3], [10, 20, 4])
    times = np.r_[np.arange(10), np.random.default_rng(5).permutation(20), np.arange(4)]
    items = np.arange(len(users))
    return Interactions(users, items, np.full(len(users), 4.0), times.astype(np.float64))


def test_the_validation_split_follows_its_name():
    data, rng = _data(), np.random.default_rng(0)
    train, latest = validation_split(data, "temporal", 0.2, rng)
    assert (train ^ latest).all()
    assert np.sort(data.timestamps[latest & (data.user_ids == 1)]).tolist() == [8, 9]
    assert np.sort(data.timestamps[latest & (data.user_ids == 2)]).tolist() == [16, 17, 18, 19]
    assert not latest[data.user_ids == 3].any()
    draws = [validation_split(data, "random", 0.2, np.random.default_rng(s))[1] for s in range(5)]
    assert all((d & (data.user_ids == 2)).sum() == 4 for d in draws)
    assert len({tuple(np.flatnonzero(d)) for d in draws}) > 1  # not the latest: at random
    # Without timestamps every split is a random one
    untimed = Interactions(data.user_ids, data.item_ids, data.ratings)
    assert (validation_split(untimed, "temporal", 0.2, rng)[1] & (data.user_ids == 1)).sum() == 2
    with pytest.raises(ValueError, match="unknown validation split"):
        validation_split(data, "latest", 0.2, rng)
