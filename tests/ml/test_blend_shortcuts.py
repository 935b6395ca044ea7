"""The served ranking's shortcuts give what the plain formulas give: `top_n` is a full sort's
head, the blend scored without the feature matrix equals the matrix product (to rounding), a
content signal standardised on a few rows by the matrix's moments equals the z-scores over the
catalogue, and the picked rows' features are the full matrix's rows."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.blender import BlendWeights, LinearBlend, feature_matrix, standardise
from backend.ml.candidates import RowFeatures
from backend.ml.content import ContentModel, matrix_moments, standardised_rows
from backend.ml.hybrid import HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue, ContentMatrices, top_n
from backend.ml.svd import SVDParams
from backend.ml.training import TrainParams, train_hybrid
from tests.helpers import long_tailed_ratings
from tests.ml.test_serving_candidates import _content

RNG = np.random.default_rng(11)


def _sorted_head(scores: np.ndarray, n: int, exclude: np.ndarray | None) -> list[int]:
    """The reference: every finite, not excluded score sorted best first, ties by index."""
    keep = np.isfinite(scores)
    if exclude is not None:
        keep[exclude[exclude >= 0]] = False
    rows = np.flatnonzero(keep)
    return rows[np.lexsort((rows, -scores[rows]))][:n].tolist()


@pytest.mark.parametrize("size", [5, 64, 640, 9742])
@pytest.mark.parametrize("n", [1, 10, 50])
def test_top_n_is_the_head_of_a_full_sort(size: int, n: int) -> None:
    for scores in (
        RNG.standard_normal(size),
        RNG.integers(0, 4, size).astype(float),  # many ties
        np.where(RNG.random(size) < 0.5, -np.inf, RNG.random(size)),
        np.where(RNG.random(size) < 0.3, np.nan, RNG.random(size)),
    ):
        exclude = RNG.choice(size, size // 5, replace=False)
        exclude[:1] = -1  # a rated movie that is not in the catalogue
        for ex in (None, exclude):
            assert top_n(scores, n, ex).tolist() == _sorted_head(scores, n, ex)
    assert top_n(np.full(size, -np.inf), n).size == 0
    assert top_n(np.zeros(size), 0).size == 0


def test_linear_blend_is_the_feature_matrix_product() -> None:
    n = 500
    is_cold = RNG.random(n) < 0.1
    names = ["svd", "item_item", "popularity", "content_text", "cold", "cold_content_text"]
    names += ["cold_content_watch", "cold_metadata_popularity"]
    weights = BlendWeights(names, RNG.random(len(names)) - 0.2)
    z = {s: RNG.standard_normal(n) for s in ("svd", "item_item", "content_text", "content_watch")}
    fixed = {s: RNG.standard_normal(n) for s in ("popularity", "metadata_popularity")}
    shrink = RNG.random(n)
    blend = LinearBlend(weights, is_cold, fixed, {"svd": shrink, "item_item": shrink})
    shrunk = {**z, **fixed, "svd": z["svd"] * shrink, "item_item": z["item_item"] * shrink}
    expected = weights.score(feature_matrix(shrunk, is_cold, names, standardised=True))
    np.testing.assert_allclose(blend.score(z), expected, rtol=1e-12, atol=1e-12)
    # A signal that is zero outside some rows, added on those rows only: the same scores.
    cold_only = dict(z, content_watch=np.where(is_cold, z["content_watch"], 0.0))
    on_cold = {"content_watch": np.flatnonzero(is_cold)}
    np.testing.assert_allclose(
        blend.score(cold_only, on_cold), blend.score(cold_only), rtol=1e-12, atol=1e-12
    )
    del z["content_watch"]  # an absent signal adds nothing, as a zero column would
    shrunk["content_watch"] = np.zeros(n)
    expected = weights.score(feature_matrix(shrunk, is_cold, names, standardised=True))
    np.testing.assert_allclose(blend.score(z), expected, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def model() -> tuple[HybridRecommender, Interactions]:
    data = long_tailed_ratings(40, 50)
    ids = np.r_[np.unique(data.item_ids), 51, 52]  # two cold movies
    catalogue = Catalogue(ids, np.arange(ids.size, dtype=float))
    params = TrainParams(
        svd=SVDParams(n_factors=4, n_epochs=3), item_max_items=100, blend_users=30, ndcg_pool=20
    )
    return train_hybrid(data, catalogue, _content(ids.size), params), data


@pytest.mark.parametrize("use_content", [True, False])
def test_ranking_scores_and_features_are_the_matrix_ones(model, use_content: bool) -> None:  # noqa: ANN001
    hybrid, data = model
    for user_id, (items, ratings) in data.by_user().items():
        user = hybrid.user(user_id, items, ratings)
        features, weights = hybrid.blend_features(user, use_content)
        plain = weights.score(features)
        ranking = hybrid.ranked(user, 10, use_content=use_content)
        # Equal to float32 rounding: the text product without the watch column is a
        # matrix-vector product (other roundings than the two-column product's), and
        # content_watch (a cold-movie feature of the warm blend) is standardised on the cold
        # rows by the matrix's moments.
        np.testing.assert_allclose(ranking.scores, plain, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(hybrid.score(user, use_content), plain, rtol=1e-6, atol=1e-6)
        assert ranking.rows.tolist() == top_n(plain, 10, user.rows).tolist()
        np.testing.assert_allclose(
            ranking.features[ranking.rows], features[ranking.rows], rtol=1e-6, atol=1e-6
        )
        assert hybrid.explain(user, ranking.rows, use_content, ranking.features) == hybrid.explain(
            user, ranking.rows, use_content
        )


def test_content_standardised_on_rows_by_moments_is_the_catalogue_z_score(model) -> None:  # noqa: ANN001
    hybrid, data = model
    cold_only = hybrid._cold_only_content(hybrid.blend_with_content.names)
    assert {"content_watch", "content_cf"} <= cold_only  # both weighed on cold movies only
    rows = np.r_[0, 5, hybrid.catalogue.item_ids.size - 1]
    aligned = hybrid._content["content_cf"]  # scores its low-rank matrix @ profile
    for content in (
        *(ContentModel(k, hybrid.content).bind(hybrid.catalogue) for k in ("text", "watch")),
        aligned,
    ):
        for user_id, (items, ratings) in list(data.by_user().items())[:10]:
            user = hybrid.user(user_id, items, ratings)
            expected = standardise(content.score(user))[rows]
            np.testing.assert_allclose(standardised_rows(content, user, rows), expected, atol=1e-5)
    nobody = hybrid.user(None, np.array([999_999]), np.array([4.0]))  # no embedded movie
    assert not standardised_rows(content, nobody, rows).any()


def test_row_features_refuse_rows_that_were_not_scored() -> None:
    features = RowFeatures(np.array([2, 5, 9]), np.arange(6.0).reshape(3, 2))
    assert features[np.array([5, 9])].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    for missing in ([3], [10], [5, 6]):
        with pytest.raises(KeyError):
            features[np.array(missing)]


def test_matrix_moments_leave_a_float64_matrix_unchanged() -> None:
    matrix = RNG.normal(size=(30, 4))
    before = matrix.copy()
    content = ContentMatrices(matrix, None, np.ones(30, bool), np.zeros(30, bool))
    mean, covariance = matrix_moments(content, matrix)
    assert np.array_equal(matrix, before)
    assert np.allclose(mean, before.mean(axis=0))
    assert np.allclose(covariance, np.cov(before, rowvar=False, bias=True), atol=1e-6)
