"""Versioned, memory-mapped embedding index with incremental rebuilds.

Layout under `root`:
    <version>/{movie_ids,text,image,has_image}.npy + manifest.json
    CURRENT   -> text file holding the live version (swapped atomically)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
IMAGE_DIM_NO_ENCODER = 2048
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600.0
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


def new_version() -> str:
    """Sortable unique id: UTC timestamp (µs) + short uuid."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def _write_text(path: Path, content: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())


class IndexStore:
    """Atomic save / validated mmap load of `EmbeddingIndex` versions under `root`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def current_file(self) -> Path:
        return self.root / CURRENT_FILE

    def current_version(self) -> str | None:
        """Cheap read of CURRENT, for other processes polling for a new index."""
        try:
            version = self.current_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return version or None

    def save(self, index: EmbeddingIndex) -> str:
        """Write a new version directory, then atomically point CURRENT at it. Returns version."""
        version = str(index.manifest.get("version") or new_version())
        if not _VERSION_RE.match(version):
            raise ValueError(f"invalid index version {version!r}")
        manifest = {**index.manifest, "version": version}
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.current_version()
        if (self.root / version).exists():
            version = new_version()
            manifest["version"] = version
        tmp_dir = self.root / f"{TMP_PREFIX}{version}"
        final_dir = self.root / version
        tmp_dir.mkdir()
        renamed = False
        try:
            _write_array(tmp_dir / "movie_ids.npy", np.asarray(index.movie_ids, dtype=np.int64))
            _write_array(tmp_dir / "text.npy", np.asarray(index.text, dtype=np.float32))
            _write_array(tmp_dir / "image.npy", np.asarray(index.image, dtype=np.float32))
            _write_array(tmp_dir / "has_image.npy", np.asarray(index.has_image, dtype=np.bool_))
            _write_text(tmp_dir / MANIFEST_FILE, json.dumps(manifest, sort_keys=True))
            os.rename(tmp_dir, final_dir)
            renamed = True
            _fsync_dir(self.root)
            pointer_tmp = self.root / f"{TMP_PREFIX}{CURRENT_FILE}-{version}"
            try:
                _write_text(pointer_tmp, version + "\n")
                os.replace(pointer_tmp, self.current_file)
            finally:
                pointer_tmp.unlink(missing_ok=True)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(final_dir if renamed else tmp_dir, ignore_errors=True)
            raise
        index.manifest = manifest
        self._prune(keep={version, previous} - {None}, newest=version)
        logger.info("Saved embedding index %s (%d movies) to %s", version, len(index), self.root)
        return version

    def _prune(self, keep: set[str | None], newest: str) -> None:
        """Drop versions older than the kept ones (never newer: a concurrent writer's)."""
        now = time.time()
        for entry in self.root.iterdir():
            name = entry.name
            try:
                if name.startswith(TMP_PREFIX):
                    if now - entry.stat().st_mtime > STALE_TMP_SECONDS:
                        if entry.is_dir():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
                elif _VERSION_RE.match(name) and name not in keep and name < newest:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError as exc:
                logger.debug("Could not prune %s: %s", entry, exc)

    def load(self, expected: dict[str, Any] | None = None) -> EmbeddingIndex | None:
        """Memory-map the CURRENT version; None (with a warning) if missing, corrupt or stale."""
        version = self.current_version()
        if version is None:
            if self.current_file.exists():
                logger.warning("Embedding index pointer %s is empty/unreadable", self.current_file)
            return None
        try:
            return self._load_version(version, expected)
        except _InvalidIndex as exc:
            logger.warning("Ignoring embedding index %s in %s: %s", version, self.root, exc)
        except Exception as exc:
            logger.warning(
                "Ignoring corrupt embedding index %s in %s: %s: %s",
                version,
                self.root,
                type(exc).__name__,
                exc,
            )
        return None

    def _load_version(self, version: str, expected: dict[str, Any] | None) -> EmbeddingIndex:
        if not _VERSION_RE.match(version):
            raise _InvalidIndex(f"CURRENT holds an invalid version string {version!r}")
        directory = self.root / version
        if not directory.is_dir():
            raise _InvalidIndex(f"CURRENT points to missing directory {directory}")
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
            raise _InvalidIndex(f"manifest version {manifest['version']!r} != directory name")

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

        for key, want in (expected or {}).items():
            have = manifest.get(key)
            if have != want:
                raise _InvalidIndex(f"{key} is {have!r} but the current model has {want!r}")

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
