"""The cache-miss shortcuts compute exactly what the plain formulas do: EASE as a sparse product
of the user's votes with B, reasons from B's columns, profiles sharing one gather, z-scores in
fewer passes (bit for bit where the served lists depend on it)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from backend.ml.base import UserHistory
from backend.ml.blender import standardise
from backend.ml.content import ContentModel, score_together
from backend.ml.item_model import ItemItemModel, recency_weights
from backend.ml.scoring import Catalogue, ContentMatrices

RNG = np.random.default_rng(7)


def _ease(items: int = 60) -> tuple[ItemItemModel, np.ndarray, Catalogue]:
    """A random sparse B over model items 1000.., bound to a catalogue that lacks some of them
    and holds movies the model does not know."""
    dense = RNG.standard_normal((items, items)).astype(np.float32)
    dense[RNG.random((items, items)) < 0.8] = 0.0
    np.fill_diagonal(dense, 0.0)
    item_ids = np.arange(1000, 1000 + items)
    catalogue = Catalogue(np.r_[item_ids[5:], [7, 8]][::-1].copy(), np.zeros(items - 3))
    model = ItemItemModel(item_ids, sparse.csr_matrix(dense), np.ones(items)).bind(catalogue)
    return model, dense, catalogue


def _history(catalogue: Catalogue, item_ids: np.ndarray) -> UserHistory:
    return UserHistory.of(catalogue, 1, item_ids, RNG.choice([1.0, 3.0, 4.5, 5.0], item_ids.size))


def test_ease_views_are_the_row_sums_bit_for_bit():
    model, dense, catalogue = _ease()
    recent = model.as_recent(3.0)
    # history order matters for the recency votes; 7 is not in the model, 1002 not in the catalogue
    history = _history(catalogue, np.array([1030, 7, 1002, 1011, 1059, 1040, 1003]))
    plain, weighted = model.score_views(history, [model, recent])
    rated = model.positions(history.item_ids)
    mask = rated >= 0
    votes = recency_weights(len(history), 3.0)[mask]
    rows = dense[rated[mask]].astype(np.float64)
    target = model.positions(catalogue.item_ids)
    for got, w in ((plain, np.ones(mask.sum())), (weighted, votes)):
        sums = _row_sums(rows, w)
        assert np.array_equal(got, np.where(target >= 0, sums[np.maximum(target, 0)], 0.0))
    assert np.array_equal(model.score(history), plain)
    assert np.array_equal(recent.score(history), weighted)
    assert np.array_equal(
        model.score_model_items(history.item_ids, recency_weights(len(history), 3.0)),
        _row_sums(rows, votes),
    )


def test_vote_sums_are_scipys_public_product_bit_for_bit():
    """`_vote_sums` calls scipy's C kernels directly: what `B[rated].T @ votes` gives."""
    model, _, _ = _ease(items=300)
    for size in (0, 1, 17, 120):
        rated = RNG.choice(300, size, replace=False)
        votes = [None, RNG.random(size)]
        columns = np.column_stack([np.ones(size), votes[1]])
        expected = (model._votes_matrix[rated].T @ columns).T
        got = model._vote_sums(rated, votes)
        assert got.shape == (2, 301) and np.array_equal(got, expected)


def _row_sums(rows: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """B's rows added one by one in history order: the float64 sums the served scores are."""
    sums = np.zeros(rows.shape[1])
    for k in range(rows.shape[0]):
        sums += rows[k] * votes[k]
    return sums


def test_ease_of_a_user_the_model_knows_nothing_of_is_zero():
    model, _, catalogue = _ease()
    history = _history(catalogue, np.array([7, 8]))
    plain, weighted = model.score_views(history, [model, model.as_recent(2.0)])
    assert not plain.any() and not weighted.any() and plain.shape == (len(catalogue.item_ids),)


def test_contributions_read_from_columns_equal_the_dense_matrix():
    model, dense, catalogue = _ease()
    history = _history(catalogue, np.array([1030, 7, 1002, 1011, 1059, 1040, 1003, 1020]))
    picks = np.r_[40, 0, 3, 12, 1, 30]  # rows 0 and 1 (movies 8 and 7) are not in B
    src = model.positions(history.item_ids)
    dst = model.positions(catalogue.item_ids[picks])
    expected = np.zeros((len(history), len(picks)))
    for i, s in enumerate(src):
        for j, d in enumerate(dst):
            if s >= 0 and d >= 0:
                expected[i, j] = dense[s, d]
    assert np.array_equal(model.contributions(history, picks), expected)
    sources = np.ones(len(history), bool)
    sources[np.flatnonzero(np.abs(expected).sum(axis=1))[0]] = False  # one that does vote
    expected[~sources] = 0.0
    assert np.array_equal(model.contributions(history, picks, sources), expected)


def test_standardise_is_numpys_formula_bit_for_bit():
    for values in (
        RNG.standard_normal(9742) * 3 + 1,
        RNG.random(1000).astype(np.float32),
        RNG.standard_normal((40, 7)),
    ):
        v = np.asarray(values, dtype=np.float64)
        assert np.array_equal(standardise(values), (v - v.mean()) / v.std())
    assert not standardise(np.full(10, 2.5)).any()


def _content(n: int = 50, dim: int = 16) -> tuple[Catalogue, ContentMatrices]:
    text = RNG.standard_normal((n, dim)).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    has_text = RNG.random(n) > 0.1
    text[~has_text] = 0.0
    catalogue = Catalogue(np.arange(1, n + 1), np.zeros(n))
    return catalogue, ContentMatrices(text, None, has_text, np.zeros(n, bool))


def test_profiles_sharing_one_gather_score_as_each_model_alone():
    catalogue, content = _content()
    models = {f"content_{k}": ContentModel(k, content).bind(catalogue) for k in ("text", "watch")}
    history = _history(catalogue, np.array([3, 9, 17, 4, 30, 41]))
    together = score_together(models, history)
    for name, model in models.items():
        assert np.allclose(together[name], model.score(history), atol=1e-6)


def test_nearest_liked_names_the_closest_liked_movie():
    catalogue, content = _content()
    model = ContentModel("text", content).bind(catalogue)
    history = UserHistory.of(catalogue, 1, np.array([3, 9, 17, 4]), np.array([5.0, 1.0, 4.5, 2.0]))
    rows = np.array([20, 21, 22])
    got = model.nearest_liked(history, rows)
    liked = [i for i in (0, 2) if content.has_text[history.rows[i]]]  # above the user's mean
    sims = content.text[rows] @ content.text[history.rows[liked]].T
    assert got.tolist() == [liked[j] for j in np.argmax(sims, axis=1)]
