"""Offline evaluation on generated data: leak-free splits, the JSON report, the hybrid's edge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.ml import metrics as M
from backend.ml import training
from backend.ml.blender import coordinate_ascent, pool_ndcg
from backend.ml.evaluation import datasets as D
from backend.ml.evaluation import experiment as X
from backend.ml.evaluation import protocols as P
from backend.ml.evaluation import report as R
from backend.ml.splits import per_user_split, temporal_split


@pytest.fixture(scope="module")
def synthetic():
    dataset = D.synthetic_dataset(seed=0)
    emb, model = D.text_embeddings(dataset, None, D.HashingTextEncoder())
    return dataset, emb, model


@pytest.fixture(scope="module")
def spied_run(synthetic):
    """One quick evaluation of every section, recording what each hybrid was trained on."""
    dataset, emb, model = synthetic
    seen: list = []
    original = training.train_hybrid

    def spy(data, *args, **kwargs):
        seen.append(data)
        return original(data, *args, **kwargs)

    training.train_hybrid = spy
    try:
        result = X.run_evaluation(dataset, emb, text_model=model, quick=True)
    finally:
        training.train_hybrid = original
    return result, seen


def test_splits_leak_no_test_rating(synthetic, spied_run):
    dataset, _, _ = synthetic
    data = dataset.ratings
    result, seen = spied_run
    # temporal: the hybrid was trained on each user's earlier ratings only
    train_mask, test_mask = temporal_split(data, 0.2)
    assert not (train_mask & test_mask).any() and (train_mask | test_mask).all()
    assert len(seen[0]) == int(train_mask.sum())
    assert P.pairs_overlap(seen[0], data.subset(test_mask)) == 0
    # top-N on the MS split: the hybrid was trained on the training split only
    train_mask, test_mask = per_user_split(data, 0.25, np.random.default_rng(X.SEED))
    assert not (train_mask & test_mask).any() and (train_mask | test_mask).all()
    assert len(seen[2]) == int(train_mask.sum())
    assert P.pairs_overlap(seen[2], data.subset(test_mask)) == 0
    # ... and so was the hybrid whose blend learns on a random validation split (reported
    # beside the served one)
    assert len(seen[3]) == int(train_mask.sum())
    assert P.pairs_overlap(seen[3], data.subset(test_mask)) == 0
    assert "hybrid_random_validation" in result["ms_split"]
    assert result["ms_split"]["_protocol"]["leaked_test_pairs_in_train"] == 0
    # cold movies: every rating of the cold movies is gone from training
    cold = result["cold_items"]["_protocol"]
    assert seen[4].n_items == data.n_items - cold["cold_movies"]
    assert len(seen[4]) == cold["train_ratings"] and cold["test_ratings"] > 0
    # rating CV: folds are disjoint and cover every rating once
    folds = X.kfold_indices(len(data), 5, X.SEED)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(data)))


def test_temporal_split_holds_out_each_users_latest():
    from backend.ml.interactions import Interactions

    data = Interactions(
        np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]),
        np.arange(11),
        np.full(11, 4.0),
        np.array([5, 1, 4, 2, 3, 10, 50, 30, 20, 40, 7.0]),
    )
    train, test = temporal_split(data, 0.2)
    assert data.item_ids[test].tolist() == [0, 6]  # each user's latest rating; user 3 too few
    assert train.sum() == 9


def test_json_has_every_section_and_report(spied_run, tmp_path):
    result, _ = spied_run
    for section in ("rating", "temporal", "cold_users", "ms_split", "cold_items"):
        assert section in result
    assert {"svd (served)"} <= set(result["rating"])
    assert {"random", "popularity", "svd", "item_item", "content_text", "hybrid",
            "hybrid_no_embeddings", "content_text_image", "ease",
            "als"} <= set(result["ms_split"])  # fmt: skip
    assert {"itemknn", "ease", "als", "hybrid"} <= set(result["temporal"])
    assert "skipped" in result["ms_split"]["content_text_image"]
    assert {"random", "metadata_popularity", "content_text", "hybrid"} <= set(result["cold_items"])
    for section in ("temporal", "ms_split"):
        for row in result[section].values():
            if "ndcg@10" in row:
                assert 0.0 <= row["ndcg@10"] <= 1.0 and 0.0 <= row["coverage"] <= 1.0
                assert 0.0 <= row["obscure_share"] <= 1.0 and row["novelty"] > 0
                assert 0.0 <= row["genre_diversity"] <= 1.0
    assert set(result["cold_users"]) >= {"1_ratings", "3_ratings", "5_ratings"}
    headroom = result["cold_users"]["3_ratings"]["_content_headroom"]  # not served: an oracle
    assert headroom["users"] > 0
    assert headroom["tuned_with_content"] >= headroom["tuned_without_content"] > 0
    written = R.write_report(result, tmp_path)
    names = {p.name for p in written}
    assert {"synthetic.json", "synthetic.md"} <= names
    assert any(n.endswith(".png") for n in names)
    assert json.loads((tmp_path / "synthetic.json").read_text())["dataset"] == "synthetic"
    assert "| hybrid |" in (tmp_path / "synthetic.md").read_text()
    assert "Content headroom (not served" in (tmp_path / "synthetic.md").read_text()


def test_hybrid_at_least_as_good_as_its_best_part(spied_run):
    for section in ("ms_split", "temporal"):
        topn = spied_run[0][section]
        parts = {m: topn[m]["ndcg@10"] for m in X.SIGNAL_METHODS}
        assert topn["hybrid"]["ndcg@10"] >= max(parts.values()), section
        assert topn["random"]["ndcg@10"] < topn["item_item"]["ndcg@10"]
    rmse = spied_run[0]["temporal"]["_protocol"]["served_predicted_rating_rmse"]
    assert 0 < rmse < 1.2


def test_beyond_accuracy_by_hand():
    lists = [np.array([0, 1]), np.array([2, 1])]
    support = np.array([1.0, 10.0, 4.0])
    genres = [{"A"}, {"A", "B"}, {"C"}]
    row = P.summarise(lists, [np.array([1]), np.array([0])], support, genres, 10)
    assert row["obscure_share"] == pytest.approx(2 / 4)  # rows 0 and 2 have < 5 ratings
    assert row["coverage"] == pytest.approx(1.0)
    # novelty: mean -log2(share of users) = mean of -log2(0.1), -log2(1), -log2(0.4), -log2(1)
    expected = np.mean([-np.log2(0.1), 0.0, -np.log2(0.4), 0.0])
    assert row["novelty"] == pytest.approx(expected)
    assert row["genre_diversity"] == pytest.approx((0.5 + 1.0) / 2)


def test_pool_ndcg_matches_metrics_and_ascent_improves():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 40, 2))
    hits = features[:, :, 1] + 0.3 * rng.normal(size=(30, 40)) > 1.0
    n_rel = hits.sum(axis=1)
    keep = n_rel > 0
    features, hits, n_rel = features[keep], hits[keep], n_rel[keep]
    w = np.array([1.0, 0.0])
    order = np.argsort(-(features @ w), axis=1, kind="stable")[:, :10]
    ranked = np.take_along_axis(hits, order, axis=1)
    assert pool_ndcg(features, hits, n_rel, w, 10) == pytest.approx(
        M.ndcg_from_hits(ranked, n_rel, 10)
    )
    weights, before, after = coordinate_ascent(features, hits, n_rel, np.array([1.0, 0.1]))
    assert after > before and weights[1] > 0.1
    floor, _, _ = coordinate_ascent(
        features, hits, n_rel, np.array([1.0, -0.5]), nonnegative=np.array([False, True])
    )
    assert floor[1] >= 0.0
