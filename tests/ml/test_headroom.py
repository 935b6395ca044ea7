"""The cold-user content headroom (backend.ml.evaluation.headroom): hand-computed pools."""

import numpy as np
import pytest

from backend.ml.evaluation.headroom import headroom_from_pools
from backend.ml.evaluation.report import format_tables

# Two users, three movies each in their pool, signals (base, content), NDCG@1.
# User A: base puts movie 0 first, the liked movie 1 is second by base and first by content.
# User B: base and content both put the liked movie 0 first.
FEATURES = np.array(
    [
        [[1.0, 0.0], [0.9, 1.0], [0.0, 0.0]],
        [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]],
    ]
)
HITS = np.array([[False, True, False], [True, False, False]])
N_RELEVANT = np.array([1, 1])
CONTENT = np.array([False, True])


def test_content_that_ranks_the_liked_movie_first_doubles_ndcg():
    # The start's content weight is ignored (the served blend without content has none): base
    # alone gets B right and A wrong (NDCG@1 0.5), and tuning base alone cannot move it. With
    # content free, the ascent's first step (+0.5, half the fixed base weight) ranks A's liked
    # movie first (1.4 > 1.0) and keeps B's (1.5): NDCG@1 1.0.
    out = headroom_from_pools(FEATURES, HITS, N_RELEVANT, np.array([1.0, 0.7]), CONTENT, k=1)
    assert out["users"] == 2
    assert out["served_without_content"] == pytest.approx(0.5)
    assert out["tuned_without_content"] == pytest.approx(0.5)
    assert out["tuned_with_content"] == pytest.approx(1.0)
    assert out["ratio"] == pytest.approx(2.0)
    assert out["tuned_weights"].tolist() == pytest.approx([1.0, 0.5])


def test_uninformative_content_adds_nothing():
    flat = FEATURES.copy()
    flat[:, :, 1] = 0.0  # no story signal at all
    out = headroom_from_pools(flat, HITS, N_RELEVANT, np.array([1.0, 0.0]), CONTENT, k=1)
    assert out["tuned_with_content"] == pytest.approx(out["tuned_without_content"])
    assert out["ratio"] == pytest.approx(1.0)
    assert out["tuned_weights"][1] == 0.0


def test_tuning_without_content_never_moves_a_content_weight():
    # A second non-content signal that fixes user A: the without-content ascent finds it
    # (NDCG@1 1.0) with the content weight still 0, so content adds nothing on top.
    features = np.concatenate([FEATURES, FEATURES[:, :, 1:]], axis=2)
    content = np.array([False, True, False])
    out = headroom_from_pools(features, HITS, N_RELEVANT, np.array([1.0, 0.0, 0.0]), content, 1)
    assert out["tuned_without_content"] == pytest.approx(1.0)
    assert out["ratio"] == pytest.approx(1.0)
    assert out["tuned_weights"][1] == 0.0


def test_report_prints_the_headroom_under_its_cold_user_table():
    row = {"hybrid": {"ndcg@10": 0.3}}
    headroom = {"users": 2, "pool": 500, "served_without_content": 0.5,
                "tuned_without_content": 0.5, "tuned_with_content": 1.0, "ratio": 2.0}  # fmt: skip
    cold = {f"{n}_ratings": dict(row) for n in (1, 3, 5)}
    cold["3_ratings"]["_content_headroom"] = headroom
    text = format_tables({"cold_users": cold})
    assert text.count("Content headroom") == 1
    assert "0.5000 without content, 1.0000 with content, ratio 2.000" in text
    assert "| _content_headroom |" not in text
