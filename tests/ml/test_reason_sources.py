"""The movie a content reason names: the liked rated movie with the closest story."""

from __future__ import annotations

import numpy as np

from backend.ml.base import UserHistory
from backend.ml.content import ContentModel, most_similar_rated, profile_weights
from backend.ml.scoring import Catalogue, ContentMatrices

RNG = np.random.default_rng(11)


def _unit(rows: int, dim: int = 8) -> np.ndarray:
    vectors = RNG.standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_most_similar_rated_skips_the_movies_not_liked_and_breaks_ties_by_history():
    rated = _unit(4)
    candidates = np.vstack([rated[1], rated[2], -rated[0]])  # each the copy of a rated movie
    rated[3] = rated[2]  # a tie: movie 3 has movie 2's story
    weights = np.array([1.0, -0.5, 0.5, 0.5])  # movie 1 not liked
    best, sims = most_similar_rated(candidates, rated, weights)
    brute = candidates @ rated.T
    brute[:, weights <= 0] = -np.inf
    assert best.tolist() == np.argmax(brute, axis=1).tolist()
    assert best[1] == 2  # the first of the tied movies
    assert best[0] != 1  # its copy, but not liked
    assert np.array_equal(sims, brute[np.arange(3), best])
    # nobody liked: every rated movie can be named
    best, _ = most_similar_rated(candidates, rated, -np.ones(4))
    assert best[0] == 1


def test_nearest_liked_from_the_rankings_gather_is_the_same_as_alone():
    n = 300
    text = _unit(n, 16)
    has_text = RNG.random(n) > 0.1
    text[~has_text] = 0.0
    catalogue = Catalogue(np.arange(1, n + 1), np.zeros(n))
    model = ContentModel("text", ContentMatrices(text, None, has_text, np.zeros(n, bool)))
    model = model.bind(catalogue)
    rows = np.arange(250, 260)
    for size in (1, 3, 40, 200):
        items = RNG.choice(np.arange(1, 250), size, replace=False)
        user = UserHistory.of(catalogue, 1, items, RNG.choice([1.0, 2.5, 4.0, 5.0], size))
        got = model.nearest_liked(user, rows, model.rated_vectors(user))
        assert got.tolist() == model.nearest_liked(user, rows).tolist()
        # brute force: the liked (above the mean) embedded movie with the largest cosine
        ok = has_text[user.rows]
        weights = profile_weights(user.ratings)
        liked = ok & (weights > 0) if (weights[ok] > 0).any() else ok
        sims = np.where(liked[None, :], text[rows] @ text[user.rows].T, -np.inf)
        expected = np.where(ok.any(), np.argmax(sims, axis=1), -1)
        assert got.tolist() == expected.tolist()


def test_rated_vectors_are_the_embedded_rated_rows_as_a_plain_array(tmp_path):
    n = 30
    text = _unit(n)
    has_text = np.ones(n, bool)
    has_text[[3, 12]] = False  # movies 4 and 13
    np.save(tmp_path / "text.npy", text)
    mapped = np.load(tmp_path / "text.npy", mmap_mode="r")  # as the index store loads it
    catalogue = Catalogue(np.arange(1, n + 1), np.zeros(n))
    content = ContentMatrices(mapped, None, has_text, np.zeros(n, bool))
    model = ContentModel("text", content).bind(catalogue)
    user = UserHistory.of(catalogue, 1, np.array([8, 4, 99, 20]), np.array([5.0, 3.0, 4.0, 1.0]))
    ok, vectors = model.rated_vectors(user)
    assert ok.tolist() == [True, False, False, True]  # movie 4 has no text, 99 is unknown
    assert type(vectors) is np.ndarray
    assert np.array_equal(vectors, text[[7, 19]])
