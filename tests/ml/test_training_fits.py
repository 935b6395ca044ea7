"""The fit of each model in a retrain: EASE's inverse and pruning, and the item models fitted on
a second thread (the validation grid's beside the SVD and the validation scoring, the final one
beside the blend learning, with the l2 chosen on validation)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from backend.ml import item_model, training
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue
from backend.ml.svd import SVDParams
from tests.helpers import long_tailed_ratings


def test_spd_inverse_matches_numpy_across_row_bands():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 37))
    gram = (a.T @ a + 3.0 * np.eye(37)).astype(np.float32)
    expected = np.linalg.inv(gram.astype(np.float64))
    inverse = item_model._spd_inverse(gram.copy())
    assert inverse == pytest.approx(expected, rel=1e-3, abs=1e-5)
    banded = np.triu(rng.normal(size=(37, 37)))
    item_model._mirror_upper(banded, block=8)  # five bands, the last one partial
    assert np.array_equal(banded, banded.T)


def test_spd_inverse_says_when_the_gram_matrix_is_not_positive_definite():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        item_model._spd_inverse(np.array([[1.0, 2.0], [2.0, 1.0]], dtype=np.float32))


def test_ease_keeps_each_columns_largest_positive_weights():
    rng = np.random.default_rng(1)
    n_users, n_items, l2, k = 80, 25, 4.0, 5
    x = (rng.random((n_users, n_items)) < 0.3).astype(np.float64)
    users, items = np.nonzero(x)
    model = item_model.ItemItemModel.fit(
        Interactions(users + 1, items + 1, np.ones(users.size)), l2=l2, neighbours=k
    )
    p = np.linalg.inv(x.T @ x + l2 * np.eye(n_items))
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    expected = np.zeros_like(b)
    for column in range(n_items):  # the reference, column by column
        best = np.argsort(-b[:, column])[:k]
        best = best[b[best, column] > 0]
        expected[best, column] = b[best, column]
    assert model.weights.toarray() == pytest.approx(expected, abs=1e-5)
    assert np.array_equal(model.weights.toarray() != 0, expected != 0)


def test_the_final_item_model_is_fitted_beside_the_blend_with_the_chosen_l2(monkeypatch):
    data = long_tailed_ratings(60, 40)
    catalogue = Catalogue(np.arange(1, 41), np.zeros(40))
    params = replace(
        training.TrainParams(),
        svd=SVDParams(n_factors=4, n_epochs=3),
        item_l2=20.0,
        item_l2_factors=(1.0, 2.5),
        item_min_support=1,
        blend_users=40,
        negatives_per_user=10,
    )
    calls = []
    fit = training.fit_item_model

    def recording_fit(data, params, l2, plan=None):  # noqa: ANN001, ANN202
        calls.append((threading.current_thread().name, len(data), l2))
        return fit(data, params, l2, plan)

    monkeypatch.setattr(training, "fit_item_model", recording_fit)
    hybrid = training.train_hybrid(data, catalogue, None, params)
    chosen = hybrid.meta["item_l2"]
    assert chosen in (20.0, 50.0)
    final = [c for c in calls if c[1] == len(data)]
    assert len(final) == 1 and final[0][2] == chosen
    # every item model (the validation grid's two and the final one) is fitted off the main
    # thread, beside the SVD fit, the validation scoring and the blend learning
    assert len(calls) == 3 and all(c[0].startswith("item-model") for c in calls)
    assert sorted(c[2] for c in calls if c[1] < len(data)) == pytest.approx(
        [20.0 * calls[0][1] / len(data), 50.0 * calls[0][1] / len(data)]
    )
    alone = fit(data, params, chosen)
    assert hybrid.items.weights.toarray() == pytest.approx(alone.weights.toarray(), abs=1e-6)
    assert hybrid.meta["train_stages"]["item_model"]["seconds"] >= 0


def test_validation_ndcg_of_several_ease_views_in_one_pass_equals_each_view_ranked_alone():
    from backend.ml.metrics import ndcg_at_k

    data = long_tailed_ratings(60, 40, seed=3)
    catalogue = Catalogue(np.arange(1, 41), np.zeros(40))
    params = replace(
        training.TrainParams(),
        svd=SVDParams(n_factors=4, n_epochs=3),
        item_min_support=1,
        blend_users=40,
        negatives_per_user=10,
    )
    hybrid = training.train_hybrid(data, catalogue, None, params)
    train_by_user, val_by_user = {}, {}
    for user, (items, ratings) in data.by_user().items():
        cut = int(len(items) * 0.7)
        train_by_user[user] = (items[:cut], ratings[:cut])
        val_by_user[user] = (items[cut:], ratings[cut:])
    users = np.array(sorted(train_by_user))
    views = [hybrid.model("item_item").as_recent(h) for h in (2.0, 5.0, 20.0)]
    together = training._signal_ndcg(hybrid, train_by_user, val_by_user, users, params, views)
    cold = np.flatnonzero(hybrid.is_cold)
    for view, value in zip(views, together, strict=True):
        recs, relevant = [], []
        for user in users:
            history = hybrid.user(int(user), *train_by_user[int(user)])
            positives = catalogue.positions(val_by_user[int(user)][0])
            recs.append(view.rank(history, params.ndcg_k, exclude=cold))
            relevant.append(positives[~hybrid.is_cold[positives]])
        assert value == ndcg_at_k(recs, relevant, params.ndcg_k)
    assert len(set(together)) > 1  # the half-lives rank differently on these ratings
