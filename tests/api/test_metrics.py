"""Ranking and rating metrics on tiny hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.ml import metrics as M

# user A: hits at ranks 2 and 5 of 5, three relevant items (one never recommended)
# user B: one hit at rank 1 of a 2-item list, one relevant item
# user C: nothing relevant -> left out of every mean
RECS = [[1, 2, 3, 4, 5], [7, 8], [1, 2]]
REL = [{2, 5, 9}, {7}, set()]


def test_precision_and_recall():
    assert M.precision_at_k(RECS, REL, 5) == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert M.recall_at_k(RECS, REL, 5) == pytest.approx((2 / 3 + 1) / 2)
    # k cuts the list: A has one hit in its top 2
    assert M.precision_at_k(RECS, REL, 2) == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_ndcg_uses_ideal_over_min_k_and_relevant():
    dcg_a = 1 / math.log2(3) + 1 / math.log2(6)
    idcg_a = 1 + 1 / math.log2(3) + 1 / math.log2(4)  # min(5, 3) = 3 ideal hits
    assert M.ndcg_at_k(RECS, REL, 5) == pytest.approx((dcg_a / idcg_a + 1.0) / 2)
    # more relevant items than k: two hits in a top-2 are a perfect list
    assert M.ndcg_at_k([[1, 2]], [{1, 2, 3, 4}], 2) == pytest.approx(1.0)
    assert M.ndcg_at_k([[3, 1]], [{1}], 2) == pytest.approx(1 / math.log2(3))


def test_map_normalised_by_min_k_and_relevant():
    ap_a = (1 / 2 + 2 / 5) / 3
    assert M.map_at_k(RECS, REL, 5) == pytest.approx((ap_a + 1.0) / 2)
    assert M.map_at_k([[1, 2]], [{1, 2, 3, 4}], 2) == pytest.approx(1.0)
    assert M.map_at_k([[9, 1, 8, 2]], [{1, 2}], 4) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_ranking_metrics_matches_the_single_functions():
    hits, n_rel = M.hit_matrix(RECS, REL, 5)
    assert hits.shape == (3, 5) and n_rel.tolist() == [3, 1, 0]
    out = M.ranking_metrics(hits, n_rel, 5)
    assert out["precision@5"] == pytest.approx(M.precision_at_k(RECS, REL, 5))
    assert out["recall@5"] == pytest.approx(M.recall_at_k(RECS, REL, 5))
    assert out["ndcg@5"] == pytest.approx(M.ndcg_at_k(RECS, REL, 5))
    assert out["map@5"] == pytest.approx(M.map_at_k(RECS, REL, 5))


def test_empty_and_perfect_cases():
    assert M.ndcg_at_k([[1]], [set()], 10) == 0.0
    perfect = M.ranking_metrics(*M.hit_matrix([[1, 2, 3]], [{1, 2, 3}], 3), 3)
    assert all(v == pytest.approx(1.0) for v in perfect.values())
    with pytest.raises(ValueError):
        M.hit_matrix([[1]], [], 1)


def test_coverage_and_rating_errors():
    assert M.catalogue_coverage([[1, 2], [2, 3]], 10) == pytest.approx(0.3)
    assert M.catalogue_coverage([], 10) == 0.0
    assert M.rmse(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(math.sqrt(4 / 3))
    assert M.mae(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(2 / 3)
