"""Offline evaluation on generated data: leak-free splits, the JSON report, the hybrid's edge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backend.ml import evaluation as E
from backend.ml import metrics as M
from backend.ml.blender import coordinate_ascent, pool_ndcg
from backend.ml.training import per_user_split


@pytest.fixture(scope="module")
def synthetic():
    dataset = E.synthetic_dataset(seed=0)
    emb, model = E.text_embeddings(dataset, None, E.HashingTextEncoder())
    return dataset, emb, model


@pytest.fixture(scope="module")
def spied_run(synthetic):
    """One quick evaluation of all three sections, recording what each model was trained on."""
    dataset, emb, model = synthetic
    seen: list = []
    original = E.train_bundle

    def spy(data, *args, **kwargs):
        seen.append(data)
        return original(data, *args, **kwargs)

    E.train_bundle = spy
    try:
        result = E.run_evaluation(dataset, emb, text_model=model, quick=True)
    finally:
        E.train_bundle = original
    return result, seen


def test_splits_leak_no_test_rating(synthetic, spied_run):
    dataset, _, _ = synthetic
    data = dataset.ratings
    result, seen = spied_run
    # top-N: the hybrid was trained on the training split only
    train_mask, test_mask = per_user_split(data, 0.25, np.random.default_rng(E.SEED))
    assert not (train_mask & test_mask).any() and (train_mask | test_mask).all()
    assert len(seen[0]) == int(train_mask.sum())
    assert E.pairs_overlap(seen[0], data.subset(test_mask)) == 0
    assert result["topn"]["_protocol"]["leaked_test_pairs_in_train"] == 0
    # cold movies: every rating of the cold movies is gone from training
    cold = result["cold_items"]["_protocol"]
    assert seen[1].n_items == data.n_items - cold["cold_movies"]
    assert len(seen[1]) == cold["train_ratings"] and cold["test_ratings"] > 0
    # rating CV: folds are disjoint and cover every rating once
    folds = E.kfold_indices(len(data), 5, E.SEED)
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(len(data)))


def test_json_has_the_three_sections_and_report(spied_run, tmp_path):
    result, _ = spied_run
    for section in ("rating", "topn", "cold_items"):
        assert section in result
    assert {"svd", "hybrid"} <= set(result["rating"])
    assert {"random", "popularity", "svd", "item_item", "content_text", "hybrid",
            "hybrid_no_embeddings", "content_text_image"} <= set(result["topn"])  # fmt: skip
    assert "skipped" in result["topn"]["content_text_image"]
    assert {"random", "metadata_popularity", "content_text", "hybrid"} <= set(result["cold_items"])
    for row in result["topn"].values():
        if "ndcg@10" in row:
            assert 0.0 <= row["ndcg@10"] <= 1.0 and 0.0 <= row["coverage"] <= 1.0
    written = E.write_report(result, tmp_path)
    names = {p.name for p in written}
    assert {"synthetic.json", "synthetic.md"} <= names
    assert any(n.endswith(".png") for n in names)
    assert json.loads((tmp_path / "synthetic.json").read_text())["dataset"] == "synthetic"
    assert "| hybrid |" in (tmp_path / "synthetic.md").read_text()


def test_hybrid_at_least_as_good_as_its_best_part(spied_run):
    topn = spied_run[0]["topn"]
    parts = {m: topn[m]["ndcg@10"] for m in E.SIGNAL_METHODS}
    assert topn["hybrid"]["ndcg@10"] >= max(parts.values())
    assert topn["random"]["ndcg@10"] < topn["item_item"]["ndcg@10"]
    assert spied_run[0]["rating"]["hybrid"]["rmse"] < spied_run[0]["rating"]["svd"]["rmse"]


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
