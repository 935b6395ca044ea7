"""Cold-user blends: which blend a history length gets, how they are learned and served."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.blender import BlendWeights, standardise
from backend.ml.cold_blend import (
    WARM_FROM,
    ColdUserBlends,
    cold_user_names,
    learn_cold_user_blends,
)
from backend.ml.hybrid import SUPPORT_SHRINKAGE, HybridRecommender, liked_sources
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.popularity import PopularityModel
from backend.ml.scoring import Catalogue
from backend.ml.svd import SVDModel
from backend.ml.training import TrainParams

N_MOVIES = 16
CATALOGUE = Catalogue(np.arange(1, N_MOVIES + 1) * 10, np.zeros(N_MOVIES))
WARM = BlendWeights(["svd", "item_item", "popularity", "cold"], np.array([0.0, 1.0, 0.0, -9.0]))
POPULAR_ONLY = BlendWeights(
    ["svd", "item_item", "popularity", "cold"], np.array([0.0, 0.0, 1.0, -9.0])
)


def _blends(lengths=(1, 3, 5)) -> ColdUserBlends:  # noqa: ANN001
    tagged = [BlendWeights(["popularity"], np.array([float(n)])) for n in lengths]
    return ColdUserBlends(list(lengths), tagged, [BlendWeights(["popularity"], -b.weights)
                                                  for b in tagged])  # fmt: skip


@pytest.mark.parametrize(
    ("n_ratings", "expected"),
    [(0, 1.0), (1, 1.0), (2, 1.0), (3, 3.0), (4, 3.0), (5, 5.0), (9, 5.0)],
)
def test_a_user_gets_the_blend_of_the_longest_learned_history_not_above_theirs(n_ratings, expected):
    blends = _blends()
    assert blends.pick(n_ratings, use_content=True).weights.tolist() == [expected]
    assert blends.pick(n_ratings, use_content=False).weights.tolist() == [-expected]


def test_from_warm_from_ratings_on_no_cold_user_blend():
    assert WARM_FROM == 10
    assert _blends().pick(WARM_FROM, True) is None
    assert _blends().pick(250, False) is None
    assert ColdUserBlends([], [], []).pick(3, True) is None


def test_round_trip_through_json():
    blends = _blends()
    back = ColdUserBlends.from_json(blends.to_json())
    assert back.lengths == [1, 3, 5]
    assert [w.weights.tolist() for w in back.without_content] == [[-1.0], [-3.0], [-5.0]]


def test_histories_in_the_order_rated():
    data = Interactions(
        np.array([1, 2, 1, 1, 2]), np.array([10, 20, 30, 40, 50]), np.array([1, 2, 3, 4, 5.0]),
        np.array([30.0, 5.0, 10.0, 10.0, 1.0]),
    )  # fmt: skip
    by_time = data.by_user()
    # user 1: movie 30 and 40 rated at the same time (file order), movie 10 last
    assert by_time[1][0].tolist() == [30, 40, 10]
    assert by_time[1][1].tolist() == [3.0, 4.0, 1.0]
    assert by_time[2][0].tolist() == [50, 20]


def test_cold_user_names_add_content_watch_and_keep_the_cold_movie_columns():
    warm = ["svd", "item_item", "content_text", "cold", "cold_content_text"]
    signals = ["svd", "item_item", "popularity", "content_text", "content_watch"]
    assert cold_user_names(warm, signals) == [
        "svd", "item_item", "popularity", "content_text", "content_watch", "cold",
        "cold_content_text",
    ]  # fmt: skip


def _data() -> Interactions:
    """Users 1-8 rate movies 10-150 in a ring (each 12 of them); movie 160 has no rating."""
    users, items = [], []
    for u in range(8):
        chosen = (np.arange(12) + 2 * u) % 15
        users += [u + 1] * 12
        items += list((chosen + 1) * 10)
    ratings = np.where(np.arange(len(items)) % 3 == 0, 3.0, 5.0)
    return Interactions(np.array(users), np.array(items), ratings)


def _hybrid(cold_users: ColdUserBlends | None) -> HybridRecommender:
    data = _data()
    return HybridRecommender(
        SVDModel.fit(data), ItemItemModel.fit(data, l2=1.0, catalogue=CATALOGUE),
        PopularityModel.fit(data), WARM, WARM, cold_users=cold_users,
    ).bind(CATALOGUE)  # fmt: skip


def test_hybrid_serves_the_cold_user_blend_to_three_ratings_and_the_warm_one_to_twelve(tmp_path):
    cold = ColdUserBlends([1, 3], [POPULAR_ONLY, POPULAR_ONLY], [POPULAR_ONLY, POPULAR_ONLY])
    hybrid = _hybrid(cold)
    newcomer = hybrid.user(None, [10, 20, 30], [5.0, 4.0, 5.0])
    assert hybrid.weights(True, len(newcomer)) is POPULAR_ONLY
    signals = hybrid.signals(newcomer, use_content=False)
    warm_movie = ~hybrid.is_cold
    # popularity alone (z-scored over the catalogue), -9 on the one movie nobody rated
    expected = np.where(warm_movie, standardise(signals["popularity"]), -9.0)
    assert hybrid.score(newcomer, use_content=False) == pytest.approx(expected, abs=1e-9)
    # ... and its reasons say so: popularity, not a collaborative contributor
    top = hybrid.rank(newcomer, 3, use_content=False)
    assert {w.kind for w in hybrid.explain(newcomer, top, use_content=False)} == {"popular"}

    items, ratings = _data().by_user()[1]
    regular = hybrid.user(1, items, ratings)
    assert len(regular) >= WARM_FROM and hybrid.weights(True, len(regular)) is WARM
    z = standardise(hybrid.signals(regular, False)["item_item"])
    shrink = hybrid.support / (hybrid.support + SUPPORT_SHRINKAGE)
    expected = np.where(warm_movie, z * shrink, -9.0)
    assert hybrid.score(regular, use_content=False) == pytest.approx(expected, abs=1e-9)

    hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path).bind(CATALOGUE)
    assert loaded.cold_users.lengths == [1, 3]
    assert loaded.score(newcomer, False) == pytest.approx(hybrid.score(newcomer, False), abs=1e-9)


def test_a_model_saved_without_cold_user_blends_serves_the_warm_blend(tmp_path):
    hybrid = _hybrid(None)
    hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path).bind(CATALOGUE)
    assert loaded.cold_users is None
    assert loaded.weights(False, 3) is loaded.blend_without_content


def test_learned_blends_rank_what_newcomers_watch_next_above_the_warm_blend():
    """Newcomers' held-out movies are the most popular ones; the warm blend (EASE only) ranks
    by co-occurrence, so the learned cold-user blends must put weight on popularity."""
    hybrid = _hybrid(None)
    support = hybrid.support
    popular = np.argsort(-support, kind="stable")
    histories, targets = {}, {}
    for u in range(1, 9):
        items, ratings = _data().by_user()[u]
        histories[u] = (items, ratings)
        # held out: the two most popular movies not among the user's first five ratings
        first = CATALOGUE.positions(items[:5])
        targets[u] = np.array([r for r in popular if r not in first and support[r] > 0][:2])
    params = TrainParams(negatives_per_user=6, ndcg_k=3, ndcg_pool=8)
    blends = learn_cold_user_blends(
        hybrid, histories, targets, list(histories), (WARM, WARM), params,
        np.random.default_rng(0),
    )  # fmt: skip
    assert blends.lengths == [1, 3, 5]
    for blend in blends.with_content + blends.without_content:
        assert blend.names == [
            "svd", "item_item", "item_recent", "popularity", "trending", "metadata_popularity",
            "cold",
        ]  # fmt: skip
        assert blend.weights[-1] == -9.0  # the cold-movie column is the warm blend's
        assert blend.weights[3] + blend.weights[4] > 0.0  # popularity counts
        assert blend.metrics["validation_ndcg"] >= blend.metrics["validation_ndcg_start"]


def test_a_liked_movie_is_named_only_where_ease_adds_more_than_svd():
    items, ratings = _data().by_user()[1]
    names = ["svd", "item_item", "popularity", "cold"]
    by_svd = BlendWeights(names, np.array([1.0, 0.0, 0.0, -9.0]))
    by_ease = BlendWeights(names, np.array([0.0, 1.0, 0.0, -9.0]))
    for blend, kind in ((by_svd, "taste"), (by_ease, "collaborative")):
        hybrid = HybridRecommender(
            SVDModel.fit(_data()), ItemItemModel.fit(_data(), l2=1.0, catalogue=CATALOGUE),
            PopularityModel.fit(_data()), blend, blend,
        ).bind(CATALOGUE)  # fmt: skip
        user = hybrid.user(1, items[:4], ratings[:4])
        top = hybrid.rank(user, 2, use_content=False)
        why = hybrid.explain(user, top, use_content=False)
        # SVD alone: no single movie put the picks there; EASE alone: the top liked contributor
        assert why[0].kind == kind and (kind == "collaborative" or why[1].kind == kind)
        if kind == "collaborative":
            ease = hybrid.model("item_item").contributions(user, top[:1])[:, 0]
            ease = np.where(liked_sources(user.ratings), ease, 0.0)
            assert ease.max() > 0 and why[0].source == int(np.argmax(ease))


def test_content_weights_stay_only_where_they_rank_validation_better():
    """Two users, pools of 3 movies, signals (svd, content_text): the hit is the movie with the
    highest content score for user 0 and the highest svd score for user 1."""
    from backend.ml.cold_blend import _content_where_it_helps, _Pools

    features = [
        np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),  # user 0: hit = row 1 (content)
        np.array([[1.0, 0.0], [0.0, 0.4], [0.2, 0.2]]),  # user 1: hit = row 0 (svd)
    ]
    hits = [np.array([False, True, False]), np.array([True, False, False])]
    pools = _Pools([], [], [], features, hits, [1, 1])
    names = ["svd", "content_text", "cold", "cold_content_text"]
    without = BlendWeights(["svd", "cold"], np.array([1.0, -2.0]))
    # svd 1, content 2: both users' hits first (NDCG 1 each) against svd alone (user 0's hit
    # third: 1 / log2(4) = 0.5): content stays
    helps = BlendWeights(names, np.array([1.0, 2.0, -1.0, 0.5]))
    kept = _content_where_it_helps(pools, helps, without, k=3)
    assert kept.weights.tolist() == [1.0, 2.0, -1.0, 0.5]
    assert kept.metrics["validation_ndcg_without_content"] == pytest.approx(0.75)
    # svd 1, content -1: user 0's hit last (0.5), user 1's first: no better than without
    # content, so the blend without content (content 0) is served; cold-movie columns stay
    hurts = BlendWeights(names, np.array([1.0, -1.0, -1.0, 0.5]))
    dropped = _content_where_it_helps(pools, hurts, without, k=3)
    assert dropped.weights.tolist() == [1.0, 0.0, -1.0, 0.5]
    assert dropped.metrics["content_dropped"] is True
    # A gain within the noise keeps the blend without content too: 39 users whose hit svd
    # ranks first either way and user 0, whose hit content lifts from third to first: 1.0
    # against (39 + 0.5) / 40, 1.3% better, under KEEP_MARGIN (3%).
    many = _Pools([], [], [], [features[0]] + [features[1]] * 39, [hits[0]] + [hits[1]] * 39,
                  [1] * 40)  # fmt: skip
    barely = _content_where_it_helps(many, helps, without, k=3)
    assert barely.metrics["validation_ndcg_with_content"] == pytest.approx(1.0)
    assert barely.metrics["validation_ndcg_without_content"] == pytest.approx(39.5 / 40)
    assert barely.weights.tolist() == [1.0, 0.0, -1.0, 0.5]


def test_the_blend_with_content_starts_from_the_one_without():
    """Two users, pools of 3 movies, signals (svd, content_cf). Started from the blend without
    content (svd 1, content 0: user 0's hit second, 1 / log2(3); user 1's first), the ascent
    adds a content weight only because it ranks the validation pools better (both first)."""
    from backend.ml.cold_blend import _learn_one, _Pools

    features = [
        np.array([[1.0, 0.0], [0.8, 1.0], [0.5, 0.5]]),  # user 0: hit = row 1
        np.array([[1.0, 0.0], [0.0, 0.4], [0.2, 0.2]]),  # user 1: hit = row 0
    ]
    hits = [np.array([False, True, False]), np.array([True, False, False])]
    pools = _Pools([], [], [], features, hits, [1, 1])
    names = ["svd", "content_cf"]
    warm = BlendWeights(names, np.zeros(2))
    params = TrainParams(ndcg_k=3)
    learned = _learn_one(pools, names, [0, 1], warm, params, None, np.array([1.0, 0.0]))
    assert learned.metrics["start"] == "without_content"
    assert learned.metrics["validation_ndcg_start"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    assert learned.metrics["validation_ndcg"] == pytest.approx(1.0)
    assert learned.weights[0] == 1.0  # the largest starting weight sets the scale
    assert learned.weights[1] > 0.0
