"""Versioned, memory-mapped embedding index with incremental rebuilds.

Each version is a folder in an ArtifactStore (backend.ml.artifacts):
    <version>/{movie_ids,text,image,has_image}.npy + manifest.json
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backend.ml.artifacts import ArtifactStore, new_version

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
IMAGE_DIM_NO_ENCODER = 2048
MANIFEST_FILE = "manifest.json"
TEXT_CHUNK = 2048
IMAGE_CHUNK = 512
_VERSION_RE = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
_ARRAYS: dict[str, np.dtype[Any]] = {
    "movie_ids": np.dtype(np.int64),
    "text": np.dtype(np.float32),
    "image": np.dtype(np.float32),
    "has_image": np.dtype(np.bool_),
}
_REQUIRED_KEYS = (
    "format_version",
    "version",
    "text_model_version",
    "text_dim",
    "image_model_version",
    "image_dim",
    "n_movies",
    "n_images",
    "hashes",
)


class TextEncoderLike(Protocol):
    model_name: str
    model_version: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class ImageEncoderLike(Protocol):
    model_name: str
    model_version: str
    dim: int
    pretrained: bool
    weights_source: str

    def encode_paths(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, int]: ...


@dataclass
class MovieContent:
    movie_id: int
    text: str
    poster_path: Path | None = None


def content_hash(text: str, poster_path: Path | str | None) -> tuple[str, str]:
    """(sha1 of text, sha1 of the poster's bytes or "" when there is no readable poster)."""
    text_hash = hashlib.sha1(text.encode("utf-8")).hexdigest()
    image_hash = ""
    if poster_path:
        try:
            image_hash = hashlib.sha1(Path(poster_path).read_bytes()).hexdigest()
        except OSError:
            image_hash = ""
    return text_hash, image_hash


@dataclass
class EmbeddingIndex:
    movie_ids: np.ndarray
    text: np.ndarray
    image: np.ndarray
    has_image: np.ndarray
    manifest: dict[str, Any]
    _sorted_ids: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _order: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", ""))

    def __len__(self) -> int:
        return int(self.movie_ids.shape[0])

    def rows_for(self, movie_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row position of each id (int64), -1 where the id is not in the index."""
        query = np.asarray(movie_ids, dtype=np.int64).reshape(-1)
        if self._sorted_ids is None or self._order is None:
            ids = np.asarray(self.movie_ids, dtype=np.int64)
            self._order = np.argsort(ids, kind="stable")
            self._sorted_ids = ids[self._order]
        if self._sorted_ids.size == 0:
            return np.full(query.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self._sorted_ids, query)
        pos = np.minimum(pos, self._sorted_ids.size - 1)
        found = self._sorted_ids[pos] == query
        return np.where(found, self._order[pos], -1).astype(np.int64)


@dataclass
class BuildStats:
    encoded_text: int
    encoded_images: int
    reused: int
    dropped: int
    failed_images: int
    seconds: float


def _write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


class IndexStore:
    """Embedding index versions in the shared artifact store: atomic save, validated mmap load.

    A version that fails validation is quarantined by the store and the newest good version is
    served instead (see backend.ml.artifacts).
    """

    def __init__(self, root: Path | str, keep: int = 2) -> None:
        self.store = ArtifactStore(root, kind="embedding index", keep=keep)

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def current_file(self) -> Path:
        return self.store.pointer

    def current_version(self) -> str | None:
        """Cheap read of CURRENT, for other processes polling for a new index."""
        return self.store.current_version()

    def save(self, index: EmbeddingIndex) -> str:
        """Write a new version and atomically point CURRENT at it. Returns the version."""
        version = str(index.manifest.get("version") or new_version())
        if not _VERSION_RE.match(version):
            raise ValueError(f"invalid index version {version!r}")
        if (self.root / version).exists():
            version = new_version()
        manifest = {**index.manifest, "version": version}

        def write(directory: Path) -> None:
            _write_array(directory / "movie_ids.npy", np.asarray(index.movie_ids, dtype=np.int64))
            _write_array(directory / "text.npy", np.asarray(index.text, dtype=np.float32))
            _write_array(directory / "image.npy", np.asarray(index.image, dtype=np.float32))
            _write_array(directory / "has_image.npy", np.asarray(index.has_image, dtype=np.bool_))
            (directory / MANIFEST_FILE).write_text(
                json.dumps(manifest, sort_keys=True), encoding="utf-8"
            )

        self.store.publish(write, version, verify=lambda d: _read_version(d, version))
        index.manifest = manifest
        logger.info("Saved embedding index %s (%d movies) to %s", version, len(index), self.root)
        return version

    def load(
        self, expected: dict[str, Any] | None = None, loaded_version: str | None = None
    ) -> EmbeddingIndex | None:
        """Memory-map the version to serve (CURRENT, else the newest good one).

        None when nothing loads, when it is `loaded_version` already, or when it was built with
        other models than `expected` (that index is fine, just stale: it is not quarantined).
        """
        loaded = self.store.load(lambda d: _read_version(d, d.name), loaded_version)
        if loaded is None:
            return None
        index = loaded.value
        for key, want in (expected or {}).items():
            have = index.manifest.get(key)
            if have != want:
                logger.warning(
                    "Embedding index %s is stale: %s is %r but the current model has %r",
                    loaded.path,
                    key,
                    have,
                    want,
                )
                return None
        return index


def _read_version(directory: Path, version: str) -> EmbeddingIndex:
    """Validate and memory-map one version folder; _InvalidIndex (or any error) when broken."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _InvalidIndex(f"unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _InvalidIndex("manifest is not a JSON object")
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise _InvalidIndex(f"manifest lacks keys {missing}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise _InvalidIndex(
            f"format_version {manifest['format_version']} != supported {FORMAT_VERSION}"
        )
    if manifest["version"] != version:
        raise _InvalidIndex(f"manifest version {manifest['version']!r} != folder name")

    arrays: dict[str, np.ndarray] = {}
    for name, dtype in _ARRAYS.items():
        try:
            arr = np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise _InvalidIndex(f"{name}.npy unreadable: {exc}") from exc
        if arr.dtype != dtype:
            raise _InvalidIndex(f"{name}.npy has dtype {arr.dtype}, expected {dtype}")
        arrays[name] = arr

    n = int(manifest["n_movies"])
    shapes = {
        "movie_ids": (n,),
        "text": (n, int(manifest["text_dim"])),
        "image": (n, int(manifest["image_dim"])),
        "has_image": (n,),
    }
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise _InvalidIndex(f"{name}.npy has shape {arrays[name].shape}, expected {shape}")
    n_images = int(np.count_nonzero(arrays["has_image"]))
    if n_images != int(manifest["n_images"]):
        raise _InvalidIndex(f"has_image counts {n_images} != manifest n_images")
    if not isinstance(manifest["hashes"], dict) or len(manifest["hashes"]) != n:
        raise _InvalidIndex("manifest hashes do not cover every movie")
    return EmbeddingIndex(
        movie_ids=arrays["movie_ids"],
        text=arrays["text"],
        image=arrays["image"],
        has_image=arrays["has_image"],
        manifest=manifest,
    )


class _InvalidIndex(Exception):
    pass


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled or total == 0:  # nothing to encode: no empty "0movie" bar
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=" movies")


def build_index(
    items: Sequence[MovieContent],
    text_encoder: TextEncoderLike,
    image_encoder: ImageEncoderLike | None,
    previous: EmbeddingIndex | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[EmbeddingIndex, BuildStats]:
    """Build an index for `items`, reusing `previous` rows whose content and model are unchanged.

    Text and image are reused independently: a changed poster re-encodes only the image.
    Movies absent from `items` are dropped.
    """
    started = time.perf_counter()
    n = len(items)
    ids = np.fromiter((int(it.movie_id) for it in items), dtype=np.int64, count=n)
    if np.unique(ids).size != n:
        raise ValueError("duplicate movie_id in items")
    hashes = [content_hash(it.text, it.poster_path) for it in items]
    text_hashes = np.array([h[0] for h in hashes], dtype=object)
    image_hashes = np.array([h[1] for h in hashes], dtype=object)
    with_poster = image_hashes != ""
    # A poster path whose file is missing/unreadable counts as a failed image, not an encode.
    unreadable_posters = sum(
        1 for it, ok in zip(items, with_poster, strict=True) if it.poster_path and not ok
    )

    text_version = str(text_encoder.model_version)
    image_version = str(image_encoder.model_version) if image_encoder is not None else ""
    # Reading `dim` may load the model; an unchanged model's dimension is already on disk, so a
    # no-change rebuild never pays for loading it.
    prev_manifest = previous.manifest if previous is not None else {}
    if prev_manifest.get("text_model_version") == text_version and previous is not None:
        text_dim = int(previous.text.shape[1])
    else:
        text_dim = int(text_encoder.dim)
    if image_encoder is None:
        image_dim = IMAGE_DIM_NO_ENCODER
    elif prev_manifest.get("image_model_version") == image_version and previous is not None:
        image_dim = int(previous.image.shape[1])
    else:
        image_dim = int(image_encoder.dim)

    text_matrix = np.zeros((n, text_dim), dtype=np.float32)
    image_matrix = np.zeros((n, image_dim), dtype=np.float32)
    has_image = np.zeros(n, dtype=bool)

    reuse_text = np.zeros(n, dtype=bool)
    reuse_image = np.zeros(n, dtype=bool)
    dropped = 0
    if previous is not None and len(previous) > 0:
        prev_manifest = previous.manifest
        rows = previous.rows_for(ids)
        present = rows >= 0
        prev_hashes = prev_manifest.get("hashes", {})
        prev_pairs = [prev_hashes.get(str(i), ("", "")) for i in ids.tolist()]
        prev_text_h = np.array([p[0] for p in prev_pairs], dtype=object)
        prev_image_h = np.array([p[1] for p in prev_pairs], dtype=object)
        prev_has_image = np.asarray(previous.has_image)[np.where(present, rows, 0)] & present

        if (
            prev_manifest.get("text_model_version") == text_version
            and previous.text.shape[1] == text_dim
        ):
            reuse_text = present & (prev_text_h == text_hashes)
        if (
            image_encoder is not None
            and prev_manifest.get("image_model_version") == image_version
            and previous.image.shape[1] == image_dim
        ):
            reuse_image = with_poster & prev_has_image & (prev_image_h == image_hashes)

        if reuse_text.any():
            text_matrix[reuse_text] = previous.text[rows[reuse_text]]
        if reuse_image.any():
            image_matrix[reuse_image] = previous.image[rows[reuse_image]]
            has_image[reuse_image] = True
        dropped = int(len(previous) - np.count_nonzero(np.isin(previous.movie_ids, ids)))

    # --- text --------------------------------------------------------------------------------
    todo_text = np.flatnonzero(~reuse_text)
    expect = getattr(text_encoder, "expect", None)  # optional: progress for /embeddings/status
    if expect is not None:
        expect(int(todo_text.size))
    bar = _progress(todo_text.size, "text embeddings", progress)
    for start in range(0, todo_text.size, TEXT_CHUNK):
        chunk = todo_text[start : start + TEXT_CHUNK]
        vectors = np.asarray(text_encoder.encode([items[i].text for i in chunk]), np.float32)
        if vectors.shape != (chunk.size, text_dim):
            raise ValueError(f"text encoder returned shape {vectors.shape} for {chunk.size} texts")
        text_matrix[chunk] = vectors
        if bar is not None:
            bar.update(chunk.size)
    if bar is not None:
        bar.close()

    # --- images ------------------------------------------------------------------------------
    failed = unreadable_posters
    encoded_images = 0
    todo_image = np.flatnonzero(with_poster & ~reuse_image) if image_encoder else np.zeros(0, int)
    if image_encoder is not None and todo_image.size:
        bar = _progress(todo_image.size, "poster embeddings", progress)
        for start in range(0, todo_image.size, IMAGE_CHUNK):
            chunk = todo_image[start : start + IMAGE_CHUNK]
            paths = [Path(items[i].poster_path) for i in chunk]  # type: ignore[arg-type]
            vectors, ok, n_failed = image_encoder.encode_paths(paths)
            ok = np.asarray(ok, dtype=np.int64)
            targets = chunk[ok]
            image_matrix[targets] = np.asarray(vectors, dtype=np.float32)
            has_image[targets] = True
            encoded_images += int(targets.size)
            failed += int(n_failed)
            if bar is not None:
                bar.update(chunk.size)
        if bar is not None:
            bar.close()

    fully_reused = reuse_text & (reuse_image | ~with_poster | (image_encoder is None))
    seconds = time.perf_counter() - started
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "version": new_version(),
        "text_model": str(text_encoder.model_name),
        "text_model_version": text_version,
        "text_dim": text_dim,
        "image_model": str(image_encoder.model_name) if image_encoder is not None else "",
        "image_model_version": image_version,
        "image_dim": image_dim,
        "image_pretrained": bool(getattr(image_encoder, "pretrained", False)),
        "image_weights_source": str(getattr(image_encoder, "weights_source", "")),
        "device": device,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 3),
        "n_movies": n,
        "n_images": int(np.count_nonzero(has_image)),
        "hashes": {
            str(mid): [th, ih]
            for mid, th, ih in zip(ids.tolist(), text_hashes, image_hashes, strict=True)
        },
    }
    index = EmbeddingIndex(
        movie_ids=ids, text=text_matrix, image=image_matrix, has_image=has_image, manifest=manifest
    )
    stats = BuildStats(
        encoded_text=int(todo_text.size),
        encoded_images=encoded_images,
        reused=int(np.count_nonzero(fully_reused)),
        dropped=dropped,
        failed_images=failed,
        seconds=seconds,
    )
    logger.info(
        "Built embedding index: %d movies, %d texts and %d posters encoded, %d reused, "
        "%d dropped, %d posters failed in %.1fs",
        n,
        stats.encoded_text,
        stats.encoded_images,
        stats.reused,
        stats.dropped,
        stats.failed_images,
        seconds,
    )
    return index, stats
