"""The size policy: which switches turn on above which size, and that the switched path trains,
ranks, saves and loads through the same interface while small data trains as before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from backend.ml.hybrid import HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue
from backend.ml.size_policy import (
    SizePolicy,
    most_recent_per_user,
    per_user_cap,
    plan_for,
    sample_users,
)
from backend.ml.svd import SVDParams
from backend.ml.training import TrainParams, train_hybrid


def _ratings(n_users: int = 60, n_items: int = 40, seed: int = 0) -> Interactions:
    """Long-tailed toy ratings with timestamps: user u rates 8 + u // 3 movies."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    users, items = [], []
    for user in range(1, n_users + 1):
        picked = rng.choice(
            n_items, size=8 + user // 3, replace=False, p=popularity / popularity.sum()
        )
        users += [user] * picked.size
        items += (picked + 1).tolist()
    n = len(users)
    return Interactions(
        np.array(users), np.array(items), rng.integers(1, 11, n) / 2.0, rng.permutation(n) + 10**9
    )


def _params(size: SizePolicy) -> TrainParams:
    return TrainParams(
        svd=SVDParams(n_factors=4, n_epochs=3), item_max_items=100, blend_users=40, ndcg_pool=20,
        size=size,
    )  # fmt: skip


def _catalogue(data: Interactions) -> Catalogue:
    ids, counts = np.unique(data.item_ids, return_counts=True)
    return Catalogue(ids, counts.astype(float))


def test_per_user_cap_is_the_largest_that_fits():
    counts = np.array([1, 5, 10])
    assert per_user_cap(counts, 9) == 4  # 1 + 4 + 4
    assert per_user_cap(counts, 16) == 10  # everything fits
    assert per_user_cap(counts, 2) == 1  # never below one rating each


def test_most_recent_per_user_keeps_each_users_newest_ratings():
    data = Interactions(
        np.array([1, 1, 1, 2, 2]), np.array([10, 11, 12, 10, 13]),
        np.array([1.0, 2, 3, 4, 5]), np.array([5, 9, 7, 1, 2]),
    )  # fmt: skip
    kept = most_recent_per_user(data, 2)
    assert sorted(zip(kept.user_ids.tolist(), kept.item_ids.tolist(), strict=True)) == [
        (1, 11), (1, 12), (2, 10), (2, 13),
    ]  # fmt: skip
    assert most_recent_per_user(data, None) is data


def test_sample_users_keeps_whole_users_within_the_budget():
    data = _ratings()
    sample = sample_users(data, 300, np.random.default_rng(0))
    assert 0 < len(sample) <= 300
    for user in np.unique(sample.user_ids):
        assert (sample.user_ids == user).sum() == (data.user_ids == user).sum()
    assert sample_users(data, None, np.random.default_rng(0)) is data


def test_default_policy_leaves_ml_latest_small_sized_data_alone():
    n = 100_836  # ml-latest-small
    data = Interactions(np.arange(n) % 610, np.arange(n) % 9742, np.ones(n))
    plan = plan_for(data, SizePolicy(), item_max_items=20000)
    assert plan.as_meta() == {
        "n_ratings": n, "svd_ratings_per_user": None, "item_max_items": 20000,
        "item_l2_grid": True, "validation_max_ratings": None, "serving_candidates": None,
    }  # fmt: skip


def test_small_data_trains_on_every_rating_with_the_l2_grid():
    data = _ratings()
    model = train_hybrid(data, _catalogue(data), None, _params(SizePolicy()))
    assert model.meta["size_policy"]["svd_ratings_per_user"] is None
    assert model.model("svd").meta["n_ratings"] == len(data)
    assert "item_l2_validation_ndcg" in model.blend_with_content.metrics
    assert set(model.meta["train_stages"]) >= {"validation_svd", "blend_learning", "svd"}


def test_switched_path_trains_ranks_and_round_trips(tmp_path):
    data = _ratings()
    catalogue = _catalogue(data)
    size = SizePolicy(
        svd_max_ratings=len(data) // 2, large_ratings=100, large_item_max_items=15,
        validation_max_ratings=len(data) * 2 // 3,
    )  # fmt: skip
    # every one of the 60 users would learn the blend without the validation sample
    model = train_hybrid(data, catalogue, None, replace(_params(size), blend_users=100))
    plan = model.meta["size_policy"]
    cap = plan["svd_ratings_per_user"]
    assert cap is not None and plan["item_max_items"] == 15 and not plan["item_l2_grid"]
    assert plan["validation_max_ratings"] == len(data) * 2 // 3
    assert model.blend_with_content.metrics["validation_users"] < 60
    svd_ratings = model.model("svd").meta["n_ratings"]
    assert svd_ratings == np.minimum(np.unique(data.user_ids, return_counts=True)[1], cap).sum()
    assert svd_ratings <= len(data) // 2
    assert len(model.model("item_item").item_ids) == 15
    assert "item_l2_validation_ndcg" not in model.blend_with_content.metrics
    assert model.meta["item_l2"] == TrainParams().item_l2
    user = model.user(60, *data.subset(data.user_ids == 60).by_user()[60])
    top = model.rank(user, 10)
    assert len(top) == 10 and not np.isin(top, user.rows).any()
    model.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path).bind(catalogue)
    assert loaded.meta["size_policy"] == plan
    assert loaded.score(user) == pytest.approx(model.score(user), abs=1e-6)
    assert loaded.rank(user, 10).tolist() == top.tolist()
