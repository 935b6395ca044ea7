"""The serving switch (size_policy.candidates_min_items): above it the hybrid ranks over
candidates; with candidates covering the catalogue that is the exhaustive ranking, and below it
nothing changes."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from backend.ml.candidates import BlendCandidates, RowFeatures
from backend.ml.hybrid import HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue, ContentMatrices
from backend.ml.size_policy import SizePolicy, plan_for
from backend.ml.svd import SVDParams
from backend.ml.training import TrainParams, train_hybrid
from tests.helpers import long_tailed_ratings

N_USERS, N_ITEMS = 50, 60


def _content(n: int, seed: int = 1) -> ContentMatrices:
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, 8)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    has_text = np.ones(n, bool)
    has_text[-3:] = False
    text[~has_text] = 0.0
    return ContentMatrices(text, None, has_text, np.zeros(n, bool))


@pytest.fixture(scope="module")
def trained() -> tuple[HybridRecommender, Interactions, Catalogue, ContentMatrices]:
    data = long_tailed_ratings(N_USERS, N_ITEMS)
    # two catalogue movies nobody rated: cold rows that only content and vote counts can lift
    ids = np.r_[np.unique(data.item_ids), N_ITEMS + 1, N_ITEMS + 2]
    catalogue = Catalogue(ids, np.arange(ids.size, dtype=float))
    content = _content(ids.size)
    params = TrainParams(
        svd=SVDParams(n_factors=4, n_epochs=3), item_max_items=100, blend_users=30, ndcg_pool=20
    )
    return train_hybrid(data, catalogue, content, params), data, catalogue, content


def _switched(model: HybridRecommender, catalogue, content, **policy) -> HybridRecommender:  # noqa: ANN001
    switched = copy.copy(model)
    switched.size_policy = replace(SizePolicy(), candidates_min_items=1, **policy)
    return switched.bind(catalogue, content)


def _users(model: HybridRecommender, data: Interactions) -> list:
    return [model.user(u, items, ratings) for u, (items, ratings) in data.by_user().items()]


def test_small_catalogue_is_ranked_exhaustively_and_the_plan_says_so(trained) -> None:  # noqa: ANN001
    model, data, catalogue, _ = trained
    assert model.candidates is None
    assert model.meta["size_policy"]["serving_candidates"] is None
    large = plan_for(data, SizePolicy(), 100, n_catalogue=SizePolicy().candidates_min_items)
    assert large.serving_candidates == SizePolicy().candidates_per_source


@pytest.mark.parametrize("use_content", [True, False])
def test_candidates_covering_the_catalogue_rank_as_the_exhaustive_path(
    trained,  # noqa: ANN001
    use_content: bool,
) -> None:
    model, data, catalogue, content = trained
    switched = _switched(model, catalogue, content, candidates_per_source=catalogue.item_ids.size)
    assert switched.candidates is not None and switched.candidates.text_index is not None
    for user in _users(model, data):
        exhaustive = model.ranked(user, 10, use_content=use_content)
        ranked = switched.ranked(user, 10, use_content=use_content)
        assert ranked.rows.tolist() == exhaustive.rows.tolist()
        np.testing.assert_allclose(
            ranked.scores[ranked.rows], exhaustive.scores[exhaustive.rows], atol=1e-6
        )
        np.testing.assert_allclose(
            ranked.features[ranked.rows], exhaustive.features[exhaustive.rows], atol=1e-6
        )
        reasons = switched.explain(user, ranked.rows, use_content, features=ranked.features)
        assert reasons == model.explain(user, exhaustive.rows, use_content, exhaustive.features)


def test_few_candidates_rank_only_candidate_rows(trained) -> None:  # noqa: ANN001
    model, data, catalogue, content = trained
    switched = _switched(model, catalogue, content, candidates_per_source=3)
    exclude = np.array([0, 1])
    for user in _users(model, data)[-5:]:
        skip = np.r_[user.rows, exclude]
        ease = switched.model("item_item").score_model_items(user.item_ids)
        ease = ease[switched.candidates.ease_positions]
        profile = switched.model("content_text").profile(user)
        candidates = switched.candidates.rows(switched, user, ease, skip, profile)
        # the popular rows, three from EASE, three SVD inner products, three nearest stories
        assert switched.candidates.always.size <= candidates.size <= 3 * 3 + 3 + 3 + 3
        ranking = switched.ranked(user, 5, exclude=exclude)
        assert len(ranking.rows) == 5
        assert np.isin(ranking.rows, candidates).all() and not np.isin(ranking.rows, skip).any()
        assert np.isfinite(ranking.scores).sum() == candidates.size
        assert isinstance(ranking.features, RowFeatures)
        assert len(switched.explain(user, ranking.rows, features=ranking.features)) == 5


def test_the_switch_follows_the_catalogue_size(trained) -> None:  # noqa: ANN001
    model, _, catalogue, content = trained
    n = catalogue.item_ids.size
    below = replace(SizePolicy(), candidates_min_items=n + 1)
    assert BlendCandidates.for_policy(model, below) is None
    at = replace(SizePolicy(), candidates_min_items=n, candidates_reference_rows=10)
    built = BlendCandidates.for_policy(model, at)
    assert built is not None and built.svd_reference.catalogue.item_ids.size == 10


def test_ease_views_score_in_one_pass_as_the_exhaustive_path(trained) -> None:  # noqa: ANN001
    """Both EASE signals (plain and recency-weighted) from one pass over the rated rows of B
    give the exhaustive path's scores on EASE's rows, for users with and without ratings."""
    model, data, catalogue, content = trained
    switched = _switched(model, catalogue, content)
    rows = switched.candidates.ease_rows
    views = [switched.model("item_item"), switched.model("item_recent")]
    for user in [model.user(None, [], []), *_users(model, data)]:
        scores = switched.candidates._ease_scores(views, user)
        expected = model._ease_scores(user)
        assert set(scores) == {"item_item", "item_recent"}
        for name in scores:
            np.testing.assert_allclose(scores[name], expected[name][rows], atol=1e-9)
