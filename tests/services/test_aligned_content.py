"""The serving workers' content vectors: the index's own memory-mapped array when it already
holds the catalogue's movies in order (shared by every worker), a copy in catalogue order
otherwise; the same numbers either way."""

from __future__ import annotations

import numpy as np

from backend.ml.index_store import EmbeddingIndex
from backend.services.recommender_runtime import align_content


def _index(tmp_path, movie_ids: list[int]) -> EmbeddingIndex:
    rng = np.random.default_rng(3)
    text = rng.standard_normal((len(movie_ids), 8)).astype(np.float32)
    np.save(tmp_path / "text.npy", text)
    mapped = np.load(tmp_path / "text.npy", mmap_mode="r")
    return EmbeddingIndex(
        movie_ids=np.array(movie_ids),
        text=mapped,
        image=np.zeros((len(movie_ids), 4), np.float32),
        has_image=np.zeros(len(movie_ids), bool),
        manifest={"version": "v1"},
    )


def test_an_index_in_catalogue_order_is_served_from_its_mapped_file(tmp_path):
    index = _index(tmp_path, [10, 20, 30])
    content = align_content(index, np.array([10, 20, 30]), "v1|c1")
    assert np.shares_memory(content.text, index.text)  # no per-worker copy
    assert not content.text.flags.writeable
    assert content.text.dtype == np.float32 and content.has_text.all()
    assert np.array_equal(content.text, np.asarray(index.text))


def test_an_index_in_another_order_or_with_missing_movies_is_aligned_by_copy(tmp_path):
    index = _index(tmp_path, [30, 10, 20])
    source = np.asarray(index.text)
    content = align_content(index, np.array([10, 20, 30, 40]), "v1|c2")
    assert not np.shares_memory(content.text, index.text)
    assert np.array_equal(content.text[:3], source[[1, 2, 0]])
    assert not content.text[3].any() and content.has_text.tolist() == [True, True, True, False]
