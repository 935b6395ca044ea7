"""Vector search: the exact scan is exact, faiss reaches its recall target, both persist."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml.ann import (
    ExactIndex,
    FaissIndex,
    exact_top_k,
    faiss_available,
    load_index,
    make_index,
    mips_augment,
    mips_query,
    recall_at_k,
)

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(
    rng: np.random.Generator, n: int, d: int, clusters: int = 40, seed: int = 99
) -> np.ndarray:
    """Unit vectors around fixed centres, like real embeddings (isotropic noise has no
    neighbourhood structure, which no ANN index can exploit). Queries and data share centres."""
    centres = _unit(np.random.default_rng(seed), clusters, d)
    x = centres[rng.integers(0, clusters, n)] + 0.08 * rng.normal(size=(n, d)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]


def test_exact_returns_the_true_top_k():
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 500, 32)
    ids = rng.permutation(10_000)[:500] + 1
    index = ExactIndex().build(vectors, ids)
    for query in _unit(rng, 5, 32):
        got_ids, got_scores = index.search(query, 10)
        want_ids, want_scores = _brute_force(vectors, ids, query, 10)
        assert got_ids.shape == (10,) and got_scores.dtype == np.float32
        assert got_ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(got_scores) <= 0)


def test_exact_batch_and_k_larger_than_the_index():
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 7, 8)
    index = ExactIndex().build(vectors, np.arange(100, 107))
    ids, scores = index.search(_unit(rng, 3, 8), 20)
    assert ids.shape == (3, 7) and scores.shape == (3, 7)
    assert all(sorted(row.tolist()) == list(range(100, 107)) for row in ids)
    with pytest.raises(ValueError):
        index.search(np.zeros(9, dtype=np.float32), 3)


def test_exact_top_k_matches_a_full_sort_for_mips():
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(300, 16)).astype(np.float32)  # not unit: inner product search
    queries = rng.normal(size=(4, 16)).astype(np.float32)
    rows, scores = exact_top_k(matrix, queries, 5)
    full = np.argsort(-(queries @ matrix.T), axis=1)[:, :5]
    assert rows.tolist() == full.tolist()
    assert recall_at_k(rows, full) == 1.0


@needs_faiss
@pytest.mark.parametrize("method", ["ivf_sq8", "ivf", "hnsw"])
def test_faiss_recall_at_10(method):
    rng = np.random.default_rng(3)
    vectors = _clustered(rng, 4000, 64)
    ids = np.arange(4000) * 3 + 7
    index = FaissIndex(method=method, seed=0).build(vectors, ids)
    assert index.tuned_recall is not None and index.tuned_recall >= 0.95
    queries = _clustered(np.random.default_rng(4), 100, 64)
    # fresh queries from the same distribution (not the tuning sample) vs the exact scan
    exact = ExactIndex().build(vectors, ids)
    got, scores = index.search(queries, 10)
    want, _ = exact.search(queries, 10)
    assert got.shape == (100, 10) and scores.shape == (100, 10)
    assert recall_at_k(got, want) >= 0.95


@needs_faiss
def test_candidates_skip_the_rerank_but_find_the_same_movies():
    rng = np.random.default_rng(9)
    vectors = _clustered(rng, 3000, 32)
    index = FaissIndex(seed=0).build(vectors, np.arange(3000) + 5)
    queries = _clustered(np.random.default_rng(10), 20, 32)
    reranked, _ = index.search(queries, 10)  # same lists probed, float32 re-rank
    found, scores = index.candidates(queries, 50)
    assert found.shape == (20, 50) and scores.shape == (20, 50)
    pairs = zip(reranked.tolist(), found.tolist(), strict=True)
    hits = [len(set(r) & set(f)) / 10 for r, f in pairs]
    assert np.mean(hits) >= 0.95
    single, _ = ExactIndex().build(vectors).candidates(queries[0], 5)
    assert single.shape == (5,)


@needs_faiss
def test_faiss_finds_a_stored_vector_first():
    rng = np.random.default_rng(5)
    vectors = _clustered(rng, 2000, 32)
    index = FaissIndex(seed=1).build(vectors, np.arange(2000))
    ids, scores = index.search(vectors[123], 10)
    assert ids[0] == 123 and scores[0] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("backend", ["exact", "ivf_sq8", "ivf", "hnsw"])
def test_save_load_round_trip(tmp_path, backend):
    if backend != "exact" and not faiss_available():
        pytest.skip("faiss is not installed")
    rng = np.random.default_rng(6)
    vectors = _clustered(rng, 1500, 24)
    ids = np.arange(1500) + 1000
    options = {} if backend == "exact" else {"method": backend}
    kind = "exact" if backend == "exact" else "faiss"
    index = make_index(kind, n_items=1500, min_items_for_ann=1, **options).build(vectors, ids)
    queries = _clustered(np.random.default_rng(7), 8, 24)
    before = index.search(queries, 10)
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert type(loaded) is type(index) and len(loaded) == 1500 and loaded.dim == 24
    after = loaded.search(queries, 10)
    assert after[0].tolist() == before[0].tolist()
    np.testing.assert_allclose(after[1], before[1], rtol=1e-6)
    if backend != "exact":
        assert loaded.breadth == index.breadth and loaded.method == backend


@needs_faiss
def test_mips_augment_turns_inner_product_into_nearest_neighbours():
    rng = np.random.default_rng(8)
    items = rng.normal(size=(3000, 20)).astype(np.float32) * rng.uniform(0.2, 2.0, (3000, 1))
    queries = rng.normal(size=(30, 20)).astype(np.float32)
    augmented, max_norm = mips_augment(items)
    assert augmented.shape == (3000, 21)
    np.testing.assert_allclose(np.linalg.norm(augmented, axis=1), max_norm, rtol=1e-4)
    np.testing.assert_allclose(mips_query(queries) @ augmented.T, queries @ items.T, atol=1e-4)
    truth, _ = exact_top_k(items, queries, 10)
    index = FaissIndex(tune_queries=mips_query(queries), seed=0).build(augmented)
    found, _ = index.search(mips_query(queries), 10)
    assert recall_at_k(found, truth) >= 0.95


def test_make_index_picks_the_backend():
    assert isinstance(make_index("exact", n_items=10**7), ExactIndex)
    assert isinstance(make_index("auto", n_items=100, min_items_for_ann=50_000), ExactIndex)
    if faiss_available():
        assert isinstance(make_index("auto", n_items=60_000, min_items_for_ann=50_000), FaissIndex)
        assert isinstance(make_index("faiss", n_items=10), FaissIndex)
    with pytest.raises(ValueError):
        make_index("annoy", n_items=10)  # type: ignore[arg-type]


def test_service_neighbours_through_faiss_match_the_exact_scan(loaded):
    from backend.database import SessionLocal
    from backend.ml.recommender import MovieRecommender
    from backend.services.recommender_runtime import RecommenderRuntime

    faiss_runtime = RecommenderRuntime(
        loaded.settings.model_copy(update={"ann_backend": "faiss", "ann_min_items": 1})
    )
    faiss_runtime.load_from_disk()
    with SessionLocal() as db:
        exact = [m.movie.id for m in MovieRecommender(db, loaded).similar_movies(4, 5)]
        approx = MovieRecommender(db, faiss_runtime).similar_movies(4, 5)
        assert faiss_runtime.neighbour_index(faiss_runtime.context(db).content) is not None
    assert len(approx) == 5 and 4 not in [m.movie.id for m in approx]
    assert len(set(exact) & {m.movie.id for m in approx}) >= 4
