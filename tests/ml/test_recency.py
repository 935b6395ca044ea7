"""The recency-weighted EASE signal ("item_recent"): weights, scores, persistence, reasons."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from backend.ml.base import UserHistory
from backend.ml.blender import BlendWeights
from backend.ml.hybrid import HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel, recency_weights
from backend.ml.popularity import PopularityModel
from backend.ml.scoring import Catalogue
from backend.ml.svd import SVDModel
from tests.helpers import uniform_ratings

CATALOGUE = Catalogue(np.array([10, 20, 30, 40]), np.zeros(4))
# B[i, j]: what having rated movie i adds to movie j (rows and columns: 10, 20, 30, 40)
B = np.array([[0, 1, 0, 2], [0, 0, 3, 0], [1, 0, 0, 1], [0, 0, 0, 0]], dtype=np.float32)
# Everyone rated every movie once, so no movie is cold; user 9 rated 10, 20, 30 in that order.
DATA = Interactions(
    np.repeat([1, 2, 9], [4, 4, 3]),
    np.array([10, 20, 30, 40, 40, 30, 20, 10, 10, 20, 30]),
    np.array([4, 3, 5, 4, 2, 4, 3, 5, 5, 5, 5], dtype=np.float64),
    np.array([1, 2, 3, 4, 1, 2, 3, 4, 100, 200, 300], dtype=np.float64),
)


def _ease() -> ItemItemModel:
    model = ItemItemModel(CATALOGUE.item_ids, sparse.csr_matrix(B), np.ones(4))
    return model.bind(CATALOGUE)


def test_recency_weights_of_a_three_rating_history():
    assert recency_weights(3, 1.0).tolist() == [0.25, 0.5, 1.0]
    assert recency_weights(3, 2.0) == pytest.approx([0.5, 2**-0.5, 1.0])
    assert recency_weights(0, 10.0).size == 0


def test_recent_scores_weigh_each_rated_movie_by_how_recently_it_was_rated():
    user = UserHistory.of(CATALOGUE, 9, [10, 20, 30], [5.0, 5.0, 5.0])
    plain, recent = _ease(), _ease().as_recent(1.0)
    assert plain.score(user).tolist() == [1.0, 1.0, 3.0, 3.0]  # the sum of rows 10, 20, 30
    # 0.25 x row 10 + 0.5 x row 20 + 1 x row 30
    assert recent.score(user).tolist() == [1.0, 0.25, 1.5, 1.5]
    assert recent.name == "item_recent" and plain.name == "item_item"
    assert plain.half_life is None  # the view leaves the model it came from alone
    # The order rated decides, not the movie ids: the same movies rated the other way round
    backwards = UserHistory.of(CATALOGUE, 9, [30, 20, 10], [5.0, 5.0, 5.0])
    assert recent.score(backwards).tolist() == [0.25, 1.0, 1.5, 2.25]


def test_histories_come_in_the_order_rated():
    items, ratings = DATA.by_user()[2]
    assert items.tolist() == [40, 30, 20, 10]
    assert ratings.tolist() == [2.0, 4.0, 3.0, 5.0]


def _hybrid(weights: dict[str, float], half_life: float = 1.0) -> HybridRecommender:
    names = ["svd", "item_item", "item_recent", "popularity", "cold"]
    blend = BlendWeights(names, np.array([weights.get(n, 0.0) for n in names]))
    return HybridRecommender(
        SVDModel.fit(DATA), ItemItemModel(CATALOGUE.item_ids, sparse.csr_matrix(B), np.ones(4)),
        PopularityModel.fit(DATA), blend, blend, meta={"item_recent_half_life": half_life},
    ).bind(CATALOGUE)  # fmt: skip


def test_the_half_life_survives_save_and_load(tmp_path):
    hybrid = _hybrid({"item_recent": 1.0}, half_life=2.0)
    user = hybrid.user(9, [10, 20, 30], [5.0, 5.0, 5.0])
    hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path).bind(CATALOGUE)
    assert loaded.model("item_recent").half_life == 2.0
    expected = B[0] * 2**-1 + B[1] * 2**-0.5 + B[2]
    assert loaded.model("item_recent").score(user) == pytest.approx(expected)
    assert loaded.score(user) == pytest.approx(hybrid.score(user))


def test_the_reason_names_the_top_contributor_not_the_latest_rated():
    """Movie 40 gets B = 2 from movie 10 (rated first) and 1 from movie 30 (rated last). The
    recency-weighted vote (half-life 1) favours 30 (1 x 1 against 0.25 x 2), but people who
    watched 10 watched 40 more: the reason names 10 under every blend of the EASE signals."""
    user_row = CATALOGUE.positions(np.array([40]))
    blends = ({"item_item": 1.0}, {"item_recent": 1.0}, {"item_item": 1.0, "item_recent": 5.0})
    for weights in blends:
        hybrid = _hybrid(weights)
        user = hybrid.user(9, [10, 20, 30], [5.0, 5.0, 5.0])
        (why,) = hybrid.explain(user, user_row, use_content=False)
        assert why.kind == "collaborative"
        assert user.item_ids[why.source] == 10


def test_the_reason_names_a_movie_rated_4_or_more_where_the_user_has_one():
    """Rated 10 at 3.5 stars and 30 at 4: 30 is named (B = 1) over 10 (B = 2), 3.5 stars is
    not "liked" beside a 4; with nothing rated 4 or more, 3.5 stars is, and 10 is named."""
    user_row = CATALOGUE.positions(np.array([40]))
    hybrid = _hybrid({"item_item": 1.0})
    for ratings, named in (([3.5, 5.0, 4.0], 30), ([3.5, 3.0, 3.0], 10)):
        user = hybrid.user(9, [10, 20, 30], ratings)
        (why,) = hybrid.explain(user, user_row, use_content=False)
        assert why.kind == "collaborative"
        assert user.item_ids[why.source] == named
    # Nothing rated 3.5 or more: no movie is named
    user = hybrid.user(9, [10, 20, 30], [3.0, 3.0, 3.0])
    (why,) = hybrid.explain(user, user_row, use_content=False)
    assert why.kind != "collaborative"


def test_the_blend_learns_from_liked_next_movies_and_chooses_the_half_life_on_validation():
    from backend.ml.training import StageClock, TrainParams, _validation_setup, train_hybrid

    data = uniform_ratings(600)
    catalogue = Catalogue(np.arange(1, 31), np.zeros(30))
    params = TrainParams(recent_half_lives=(2.0, 50.0), ndcg_pool=10, blend_users=40)
    v = _validation_setup(
        data, catalogue, None, params, np.random.default_rng(1), clock=StageClock()
    )
    held = np.concatenate([ratings for _, ratings in v.val_by_user.values()])
    assert held.size and held.min() >= params.target_rating  # only what users liked next
    assert set(v.users) <= set(v.val_by_user)
    assert v.recent_half_life in (2.0, 50.0)
    assert v.recent_half_life_scores[str(v.recent_half_life)] == max(
        v.recent_half_life_scores.values()
    )
    assert v.model.model("item_recent").half_life == v.recent_half_life
    model = train_hybrid(data, catalogue, None, params)
    assert model.meta["item_recent_half_life"] in (2.0, 50.0)  # chosen on validation, saved
    assert model.model("item_recent").half_life == model.meta["item_recent_half_life"]
