"""The content -> EASE ridge map ("content_cf"): hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from backend.ml.aligned_content import AlignedContentModel, ridge_map, vote_feature
from backend.ml.base import UserHistory
from backend.ml.blender import BlendWeights
from backend.ml.content import ContentModel, score_together
from backend.ml.hybrid import HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.popularity import PopularityModel
from backend.ml.scoring import Catalogue, ContentMatrices
from backend.ml.svd import SVDModel
from tests.helpers import uniform_ratings

# Movie 40 has no rating: EASE (items 10, 20, 30) has no column for it.
CATALOGUE = Catalogue(np.array([10, 20, 30, 40]), np.array([99.0, 0.0, 9.0, 0.0]))
TEXT = np.array([[1, 0], [0, 1], [0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
CONTENT = ContentMatrices(TEXT, None, np.ones(4, bool), np.zeros(4, bool))
# B[h, j]: how much rating movie h votes for movie j (zero diagonal).
B = np.array([[0.0, 0.5, 0.2], [0.4, 0.0, 0.1], [0.0, 0.3, 0.0]])


def _items() -> ItemItemModel:
    return ItemItemModel(np.array([10, 20, 30]), sparse.csr_matrix(B), np.array([3.0, 2.0, 1.0]))


def test_ridge_map_by_hand():
    # F = I, l2 = 1: W = C F (F^T F + I)^-1 = C / 2
    columns = np.array([[0.0, 2.0], [4.0, 0.0]])
    assert ridge_map(np.eye(2), columns, 1.0) == pytest.approx(columns / 2)
    # one feature, values 1 and 2, l2 = 1: W = C f / (1 + 4 + 1) per row
    f = np.array([[1.0], [2.0]])
    assert ridge_map(f, columns, 1.0) == pytest.approx(np.array([[4.0], [4.0]]) / 6)


def test_score_is_the_history_times_the_predicted_column():
    model = AlignedContentModel.fit(_items(), CATALOGUE, CONTENT, l2=0.5).bind(CATALOGUE)
    # The features of every catalogue movie: text, z-scored log votes (moments over EASE's
    # movies 10, 20, 30), a constant.
    log_votes = np.log1p(CATALOGUE.metadata_votes)
    z = (log_votes - log_votes[:3].mean()) / log_votes[:3].std()
    features = np.column_stack([TEXT, z, np.ones(4)])
    gram = features[:3].T @ features[:3] + 0.5 * np.eye(4)
    w = B @ features[:3] @ np.linalg.inv(gram)  # row h: movie h's map
    predicted_columns = w @ features.T  # column i: the predicted B[:, i], movie 40's too
    history = np.array([1.0, 0.0, 1.0])  # rated movies 10 and 30
    user = UserHistory.of(CATALOGUE, None, [10, 30], [4.0, 2.0])
    expected = history @ predicted_columns
    scores = model.score(user)
    # The constant feature adds the same to every movie and is not served.
    assert scores - scores.mean() == pytest.approx(expected - expected.mean(), abs=1e-5)
    assert scores == pytest.approx(expected - history @ w[:, -1], abs=1e-5)
    # The movie nobody rated is scored from its content: between 10's and 30's stories.
    assert scores[3] != 0.0
    # A history EASE does not know (movie 40 alone) gives no profile: zeros.
    assert not model.score(UserHistory.of(CATALOGUE, None, [40], [5.0])).any()
    # At rank 1 the map is W's best rank-1 approximation (its first singular triple).
    u, s, vt = np.linalg.svd(w[:, :-1])
    w1 = s[0] * np.outer(u[:, 0], vt[0])
    rank1 = AlignedContentModel.fit(_items(), CATALOGUE, CONTENT, l2=0.5, rank=1)
    assert rank1.bind(CATALOGUE).score(user) == pytest.approx(
        history @ w1 @ features[:, :-1].T, abs=1e-5
    )


def test_the_profile_sums_the_rated_movies_in_and_outside_the_catalogue():
    """Rated movies are found by their catalogue rows, and by id where the catalogue lacks
    them (EASE may still hold them), summed in history order."""
    model = AlignedContentModel.fit(_items(), CATALOGUE, CONTENT, l2=0.5)
    smaller = Catalogue(np.array([10, 30, 40]), CATALOGUE.metadata_votes[[0, 2, 3]])
    content = ContentMatrices(TEXT[[0, 2, 3]], None, np.ones(3, bool), np.zeros(3, bool))
    bound = model.with_content(content).bind(smaller)
    user = UserHistory.of(smaller, None, [30, 20, 40, 10], [4.0, 3.0, 5.0, 2.0])
    assert user.rows[1] == -1  # movie 20: in EASE, not in this catalogue; 40: not in EASE
    expected = np.add.reduce(model.user_factors[[2, 1, 0]], axis=0)
    assert np.array_equal(bound.profile(user), expected)


def test_served_beside_the_text_profiles():
    models = {f"content_{k}": ContentModel(k, CONTENT).bind(CATALOGUE) for k in ("text", "watch")}
    models["content_cf"] = AlignedContentModel.fit(_items(), CATALOGUE, CONTENT).bind(CATALOGUE)
    user = UserHistory.of(CATALOGUE, None, [10, 20], [5.0, 3.0])
    together = score_together(models, user)
    for name, model in models.items():
        assert together[name] == pytest.approx(model.score(user), abs=1e-6), name


def test_the_map_learns_the_positive_votes_only():
    negative = B.copy()
    negative[2, 0] = -0.7  # watchers of movie 30 watch movie 10 less
    with_negative = ItemItemModel(
        np.array([10, 20, 30]), sparse.csr_matrix(negative), np.array([3.0, 2.0, 1.0])
    )
    fitted = AlignedContentModel.fit(with_negative, CATALOGUE, CONTENT)
    positive = AlignedContentModel.fit(_items(), CATALOGUE, CONTENT)
    assert fitted.user_factors == pytest.approx(positive.user_factors)


def test_no_text_no_map():
    assert AlignedContentModel.fit(_items(), CATALOGUE, None) is None
    no_text = ContentMatrices(TEXT, None, np.zeros(4, bool), np.zeros(4, bool))
    assert AlignedContentModel.fit(_items(), CATALOGUE, no_text) is None


def test_vote_feature():
    assert vote_feature(np.array([0.0, np.e - 1, -3.0]), 1.0, 2.0) == pytest.approx([-0.5, 0, -0.5])


def test_saved_with_the_hybrid_and_served_after_load(tmp_path):
    data = Interactions(
        np.array([1, 1, 2, 2, 2, 3, 3]), np.array([10, 20, 10, 20, 30, 20, 30]),
        np.array([5, 4, 4, 5, 2, 3, 4.0]),
    )  # fmt: skip
    items = ItemItemModel.fit(data, l2=1.0)
    names = ["item_item", "content_cf", "cold", "cold_content_cf"]
    weights = BlendWeights(names, np.array([1.0, 0.5, -1.0, 1.0]))
    hybrid = HybridRecommender(
        SVDModel.fit(data), items, PopularityModel.fit(data), weights, weights,
        aligned=AlignedContentModel.fit(items, CATALOGUE, CONTENT),
    ).bind(CATALOGUE, CONTENT)  # fmt: skip
    user = hybrid.user(None, [10], [5.0])
    assert "content_cf" in hybrid.signals(user)
    hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path).bind(CATALOGUE, CONTENT)
    assert loaded.aligned.user_factors == pytest.approx(hybrid.aligned.user_factors)
    assert loaded.aligned.feature_basis == pytest.approx(hybrid.aligned.feature_basis)
    assert loaded.signals(user)["content_cf"] == pytest.approx(hybrid.signals(user)["content_cf"])
    assert loaded.score(user) == pytest.approx(hybrid.score(user), abs=1e-6)
    # The new movie (40) is ranked by its cold weights, content_cf among them.
    assert hybrid.features(hybrid.signals(user), names)[3, 3] != 0.0


def test_validation_ranks_simulated_new_movies_for_everyone_who_watched_them():
    """The cold-movie weights are learned on movies whose training ratings were hidden; their
    targets are every hidden rating (any value), and the validation model serves content_cf
    from a map that never saw those movies' ratings."""
    from backend.ml.training import StageClock, TrainParams, _validation_setup

    rng = np.random.default_rng(0)
    data = uniform_ratings(900)
    catalogue = Catalogue(np.arange(1, 31), rng.integers(0, 500, 30).astype(float))
    text = rng.normal(size=(30, 8)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    content = ContentMatrices(text, None, np.ones(30, bool), np.zeros(30, bool))
    params = TrainParams(recent_half_lives=(5.0,), ndcg_pool=10, blend_users=40)
    v = _validation_setup(
        data, catalogue, content, params, np.random.default_rng(1), clock=StageClock()
    )
    cold_ids = catalogue.item_ids[v.simulated_cold]
    assert cold_ids.size == 3  # cold_item_fraction 0.1 of 30 movies
    hidden = np.isin(data.item_ids, cold_ids)
    by_user = data.subset(hidden).by_user()
    assert sorted(v.cold_by_user) == sorted(by_user)
    for user, rows in v.cold_by_user.items():
        assert sorted(catalogue.item_ids[rows]) == sorted(by_user[user][0])
    assert v.model.is_cold[v.simulated_cold].all()
    assert not np.isin(v.model.aligned.item_ids, cold_ids).any()
    assert "content_cf" in v.model.signals(v.model.user(None, [1, 2], [4.0, 5.0]))
