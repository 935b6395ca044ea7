"""Index store: round trip, incremental rebuilds, corruption handling, atomic save."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backend.ml import artifacts, index_store
from backend.ml.index_store import (
    BuildStats,
    EmbeddingIndex,
    IndexStore,
    MovieContent,
    build_index,
    content_hash,
)


def _vector(data: bytes, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha1(data).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


class FakeTextEncoder:
    model_name = "fake-text"
    dim = 8

    def __init__(self, version: str = "text-v1") -> None:
        self.model_version = version
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.stack([_vector(t.encode(), self.dim) for t in texts]).reshape(-1, self.dim)


class FakeImageEncoder:
    model_name = "fake-image"
    dim = 2048
    pretrained = True
    weights_source = "file:fake"

    def __init__(self, version: str = "image-v1") -> None:
        self.model_version = version
        self.seen: list[Path] = []

    def encode_paths(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, int]:
        self.seen.extend(paths)
        vectors, ok = [], []
        for i, path in enumerate(paths):
            data = path.read_bytes() if path.exists() else b"bad"
            if data != b"bad":
                vectors.append(_vector(data, self.dim))
                ok.append(i)
        emb = np.stack(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        return emb, np.asarray(ok, dtype=np.int64), len(paths) - len(ok)


@pytest.fixture()
def posters(tmp_path: Path) -> dict[int, Path]:
    directory = tmp_path / "posters"
    directory.mkdir()
    out = {}
    for movie_id in (1, 2, 3):
        path = directory / f"{movie_id}.jpg"
        path.write_bytes(f"poster-{movie_id}".encode())
        out[movie_id] = path
    return out


def _items(posters: dict[int, Path]) -> list[MovieContent]:
    return [
        MovieContent(1, "Toy Story (1995). Animation.", posters[1]),
        MovieContent(2, "Jumanji (1995). Adventure.", posters[2]),
        MovieContent(3, "Heat (1995). Crime.", posters[3]),
        MovieContent(4, "Sabrina (1995). Comedy.", None),
    ]


def _expected(text: FakeTextEncoder, image: FakeImageEncoder) -> dict:
    return {
        "text_model_version": text.model_version,
        "image_model_version": image.model_version,
        "text_dim": text.dim,
        "image_dim": image.dim,
    }


def test_content_hash(posters: dict[int, Path]) -> None:
    text_hash, image_hash = content_hash("abc", posters[1])
    assert text_hash == hashlib.sha1(b"abc").hexdigest()
    assert image_hash == hashlib.sha1(b"poster-1").hexdigest()
    assert content_hash("abc", None)[1] == ""
    assert content_hash("abc", posters[1].parent / "missing.jpg")[1] == ""


def test_build_save_load_round_trip(tmp_path: Path, posters: dict[int, Path]) -> None:
    text, image = FakeTextEncoder(), FakeImageEncoder()
    index, stats = build_index(_items(posters), text, image, device="cpu", progress=True)
    assert stats.encoded_text == 4 and stats.encoded_images == 3
    assert stats.reused == 0 and stats.dropped == 0 and stats.failed_images == 0

    store = IndexStore(tmp_path / "emb")
    assert store.load() is None and store.current_version() is None
    version = store.save(index)
    assert store.current_version() == version

    loaded = store.load(expected=_expected(text, image))
    assert loaded is not None
    assert isinstance(loaded.text, np.memmap) and isinstance(loaded.image, np.memmap)
    np.testing.assert_array_equal(loaded.movie_ids, [1, 2, 3, 4])
    np.testing.assert_array_equal(loaded.text, index.text)
    np.testing.assert_array_equal(loaded.image, index.image)
    np.testing.assert_array_equal(loaded.has_image, [True, True, True, False])
    assert not loaded.image[3].any()
    np.testing.assert_allclose(np.linalg.norm(loaded.text, axis=1), 1.0, atol=1e-6)

    manifest = loaded.manifest
    assert manifest["version"] == version
    assert manifest["n_movies"] == 4 and manifest["n_images"] == 3
    assert manifest["text_model"] == "fake-text" and manifest["image_model"] == "fake-image"
    assert manifest["image_pretrained"] is True and manifest["device"] == "cpu"
    assert manifest["built_at"].endswith("+00:00")
    assert manifest["hashes"]["4"][1] == ""

    assert loaded.rows_for([3, 99, 1, -5]).tolist() == [2, -1, 0, -1]
    assert loaded.rows_for(np.array([], dtype=np.int64)).size == 0


def test_load_rejects_model_mismatch(tmp_path: Path, posters: dict[int, Path]) -> None:
    text, image = FakeTextEncoder(), FakeImageEncoder()
    store = IndexStore(tmp_path)
    store.save(build_index(_items(posters), text, image)[0])
    assert store.load(expected={**_expected(text, image), "text_model_version": "other"}) is None
    assert store.load(expected={**_expected(text, image), "image_dim": 512}) is None
    assert store.load(expected=_expected(text, image)) is not None


def test_incremental_rebuild(tmp_path: Path, posters: dict[int, Path]) -> None:
    text, image = FakeTextEncoder(), FakeImageEncoder()
    store = IndexStore(tmp_path / "emb")
    first, _ = build_index(_items(posters), text, image)
    store.save(first)
    previous = store.load()
    assert previous is not None

    items = _items(posters)
    items[1] = MovieContent(2, "Jumanji (1995). Adventure. Fantasy.", posters[2])  # text change
    posters[3].write_bytes(b"poster-3-v2")  # poster change only
    del items[0]  # movie 1 removed
    new_poster = posters[1].parent / "5.jpg"
    new_poster.write_bytes(b"poster-5")
    items.append(MovieContent(5, "Casino (1995). Crime.", new_poster))  # new movie

    text2, image2 = FakeTextEncoder(), FakeImageEncoder()
    index, stats = build_index(items, text2, image2, previous=previous)

    assert text2.seen == ["Jumanji (1995). Adventure. Fantasy.", "Casino (1995). Crime."]
    assert image2.seen == [posters[3], new_poster]
    assert stats == BuildStats(
        encoded_text=2,
        encoded_images=2,
        reused=1,
        dropped=1,
        failed_images=0,
        seconds=stats.seconds,
    )
    np.testing.assert_array_equal(index.movie_ids, [2, 3, 4, 5])
    old = previous.rows_for([2, 3, 4])
    np.testing.assert_array_equal(index.image[0], previous.image[old[0]])  # poster 2 reused
    np.testing.assert_array_equal(index.text[1], previous.text[old[1]])  # Heat text reused
    np.testing.assert_array_equal(index.text[2], previous.text[old[2]])  # Sabrina fully reused
    assert not np.array_equal(index.image[1], previous.image[old[1]])
    np.testing.assert_array_equal(index.image[1], _vector(b"poster-3-v2", 2048))
    np.testing.assert_array_equal(index.text[0], _vector(items[0].text.encode(), 8))
    assert index.has_image.tolist() == [True, True, False, True]

    store.save(index)
    again, stats = build_index(items, FakeTextEncoder(), FakeImageEncoder(), previous=store.load())
    assert (stats.encoded_text, stats.encoded_images, stats.reused) == (0, 0, 4)
    np.testing.assert_array_equal(again.text, index.text)
    np.testing.assert_array_equal(again.image, index.image)


def test_model_version_change_reencodes_everything(posters: dict[int, Path]) -> None:
    first, _ = build_index(_items(posters), FakeTextEncoder(), FakeImageEncoder())

    text, image = FakeTextEncoder("text-v2"), FakeImageEncoder()
    _, stats = build_index(_items(posters), text, image, previous=first)
    assert stats.encoded_text == 4 and stats.encoded_images == 0 and len(text.seen) == 4

    text, image = FakeTextEncoder(), FakeImageEncoder("image-v2")
    index, stats = build_index(_items(posters), text, image, previous=first)
    assert stats.encoded_text == 0 and stats.encoded_images == 3 and len(image.seen) == 3
    assert index.manifest["image_model_version"] == "image-v2"


def test_without_image_encoder(posters: dict[int, Path]) -> None:
    index, stats = build_index(_items(posters), FakeTextEncoder(), None)
    assert index.image.shape == (4, 2048) and not index.image.any()
    assert not index.has_image.any()
    assert index.manifest["image_model"] == "" and index.manifest["n_images"] == 0
    assert stats.encoded_images == 0 and stats.reused == 0


def test_failed_images_are_counted_and_retried(posters: dict[int, Path]) -> None:
    posters[2].write_bytes(b"bad")
    items = _items(posters)
    items[3] = MovieContent(4, "Sabrina (1995). Comedy.", posters[1].parent / "gone.jpg")
    index, stats = build_index(items, FakeTextEncoder(), FakeImageEncoder())
    assert stats.failed_images == 2  # one undecodable, one missing file
    assert index.has_image.tolist() == [True, False, True, False]

    image = FakeImageEncoder()
    _, stats = build_index(items, FakeTextEncoder(), image, previous=index)
    assert image.seen == [posters[2]]  # the failed poster is retried, good ones reused


def test_empty_items(tmp_path: Path) -> None:
    index, stats = build_index([], FakeTextEncoder(), FakeImageEncoder())
    assert index.text.shape == (0, 8) and stats.encoded_text == 0
    store = IndexStore(tmp_path)
    store.save(index)
    loaded = store.load()
    assert loaded is not None and len(loaded) == 0
    assert loaded.rows_for([1]).tolist() == [-1]


def test_duplicate_ids_rejected() -> None:
    items = [MovieContent(1, "a", None), MovieContent(1, "b", None)]
    with pytest.raises(ValueError, match="duplicate"):
        build_index(items, FakeTextEncoder(), None)


def _saved_store(tmp_path: Path, posters: dict[int, Path]) -> tuple[IndexStore, Path]:
    store = IndexStore(tmp_path / "emb")
    version = store.save(build_index(_items(posters), FakeTextEncoder(), FakeImageEncoder())[0])
    return store, store.root / version


def test_truncated_npy_returns_none(
    tmp_path: Path, posters: dict[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    store, directory = _saved_store(tmp_path, posters)
    target = directory / "image.npy"
    target.write_bytes(target.read_bytes()[:1000])
    assert store.load() is None
    assert "image.npy" in caplog.text


def test_garbage_manifest_returns_none(
    tmp_path: Path, posters: dict[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    store, directory = _saved_store(tmp_path, posters)
    (directory / "manifest.json").write_text("{not json")
    assert store.load() is None
    assert "manifest" in caplog.text


def test_manifest_count_mismatch_returns_none(tmp_path: Path, posters: dict[int, Path]) -> None:
    store, directory = _saved_store(tmp_path, posters)
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["n_movies"] = 5
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert store.load() is None


def test_wrong_dtype_returns_none(tmp_path: Path, posters: dict[int, Path]) -> None:
    store, directory = _saved_store(tmp_path, posters)
    np.save(directory / "text.npy", np.zeros((4, 8), dtype=np.float64))
    assert store.load() is None


def test_current_pointing_nowhere_serves_the_good_version(
    tmp_path: Path, posters: dict[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    store, good = _saved_store(tmp_path, posters)
    store.current_file.write_text("20990101T000000000000Z-deadbeef\n")
    loaded = store.load()
    assert loaded is not None and loaded.version == good.name
    assert "points to missing" in caplog.text and "deadbeef" in caplog.text
    store.current_file.write_text("../../etc\n")
    loaded = store.load()
    assert loaded is not None and loaded.version == good.name
    shutil.rmtree(good)
    assert store.load() is None


def test_failed_save_keeps_previous_version(
    tmp_path: Path, posters: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, first_dir = _saved_store(tmp_path, posters)
    first = first_dir.name
    second, _ = build_index(_items(posters)[:2], FakeTextEncoder(), FakeImageEncoder())

    real_write = index_store._write_array
    calls = {"n": 0}

    def failing_write(path: Path, array: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real_write(path, array)

    monkeypatch.setattr(index_store, "_write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        store.save(second)
    monkeypatch.undo()

    assert store.current_version() == first
    assert {p.name for p in store.root.iterdir()} == {"CURRENT", first}
    loaded = store.load()
    assert loaded is not None and loaded.version == first and len(loaded) == 4

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(artifacts.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        store.save(second)
    monkeypatch.undo()
    assert store.current_version() == first
    assert {p.name for p in store.root.iterdir()} == {"CURRENT", first}


def test_save_prunes_all_but_previous(tmp_path: Path, posters: dict[int, Path]) -> None:
    store = IndexStore(tmp_path / "emb")
    versions = []
    for _ in range(4):
        index, _ = build_index(_items(posters), FakeTextEncoder(), None)
        versions.append(store.save(index))
    remaining = sorted(p.name for p in store.root.iterdir() if p.is_dir())
    assert remaining == versions[-2:]
    assert store.current_version() == versions[-1]
    loaded = store.load()
    assert isinstance(loaded, EmbeddingIndex) and loaded.version == versions[-1]


def test_build_tells_a_progress_reporting_encoder_how_many_texts_it_encodes(
    posters: dict[int, Path],
) -> None:
    class CountingEncoder(FakeTextEncoder):
        expected: list[int]

        def expect(self, n_texts: int) -> None:
            self.expected = [*getattr(self, "expected", []), n_texts]

    first, _ = build_index(_items(posters), FakeTextEncoder(), None)
    items = _items(posters)
    items[1] = MovieContent(2, "Jumanji (1995). Adventure. Fantasy.", posters[2])
    encoder = CountingEncoder()
    build_index(items, encoder, None, previous=first)
    assert encoder.expected == [1] and len(encoder.seen) == 1  # the other three are reused
