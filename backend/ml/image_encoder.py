"""ResNet50 poster encoder: 2048-d global-average-pooled features, L2-normalised."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from backend.ml.device import resolve_device

logger = logging.getLogger(__name__)

RESIZE = 256
CROP = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_WEIGHTS = "IMAGENET1K_V2"
# ResNet50_Weights.IMAGENET1K_V2.url (a test checks it against torchvision): known without
# importing torch, so a machine without weights learns it in milliseconds, not seconds.
TORCHVISION_WEIGHTS_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
DOWNLOAD_PROBE_TIMEOUT_S = 3.0
RANDOM_SEED = 0
_MAX_LOGGED_FAILURES = 5


class ImageWeightsUnavailable(RuntimeError):
    """No usable ResNet50 weights and random weights were not allowed."""


def _file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reachable(url: str, timeout: float = DOWNLOAD_PROBE_TIMEOUT_S) -> bool:
    """One TCP connect; torch.hub's urlopen has no timeout and can hang for minutes offline."""
    parsed = urlparse(url)
    if not parsed.hostname:
        return False
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _torchvision_cache_file() -> Path:
    """Where torchvision keeps the downloaded weights: torch.hub.get_dir()'s rule (TORCH_HOME,
    else the XDG cache), computed without importing torch."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    name = os.path.basename(TORCHVISION_WEIGHTS_URL)
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints" / name


def _download_error(allow_download: bool) -> str | None:
    """Why torchvision's weights cannot be downloaded now (None: they may be)."""
    if not allow_download:
        return "downloads disabled (IMAGE_WEIGHTS_DOWNLOAD=false)"
    if not _reachable(TORCHVISION_WEIGHTS_URL):
        return f"download host unreachable ({urlparse(TORCHVISION_WEIGHTS_URL).hostname})"
    return None


def _no_weights_message(cached: Path, download_error: str) -> str:
    return (
        f"No ResNet50 weights available: IMAGE_WEIGHTS not set, {cached} not found, "
        f"{download_error}. Set IMAGE_WEIGHTS to a resnet50 state_dict .pth, copy "
        f"{cached.name} into {cached.parent}, or set IMAGE_RANDOM_WEIGHTS=true for "
        "(meaningless) random weights."
    )


def _extract_state_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        return {k.removeprefix("module."): v for k, v in obj.items()}
    raise TypeError(f"expected a state_dict, got {type(obj).__name__}")


def _load_and_preprocess(path: Path) -> np.ndarray:
    """Decode one image to a (CROP, CROP, 3) uint8 array: resize shorter side, centre crop."""
    with Image.open(path) as img:
        img.load()
        return _preprocess(img)


def _preprocess(img: Image.Image) -> np.ndarray:
    rgb = img.convert("RGB")
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("empty image")
    scale = RESIZE / min(width, height)
    new_w, new_h = max(CROP, round(width * scale)), max(CROP, round(height * scale))
    rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - CROP) // 2, (new_h - CROP) // 2
    return np.asarray(rgb.crop((left, top, left + CROP, top + CROP)), dtype=np.uint8)


def _safe_load(path: Path) -> np.ndarray | str:
    """Preprocessed array, or a short error string (never raises: bad posters are skipped)."""
    try:
        return _load_and_preprocess(Path(path))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


class ImageEncoder:
    """ResNet50 (fc removed) poster embeddings.

    Weights are resolved in order: `weights_path` → torchvision's cached IMAGENET1K_V2 file in
    TORCH_HOME → download (if `allow_download`) → random init (if `random_weights`) → error.
    """

    model_name = "resnet50"
    dim = 2048

    def __init__(
        self,
        weights_path: Path | str | None = None,
        allow_download: bool = True,
        random_weights: bool = False,
        device: str = "cpu",
        batch_size: int = 32,
        workers: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.workers = max(1, int(workers))
        self._lock = threading.Lock()
        if weights_path is None and not random_weights:
            cached = _torchvision_cache_file()
            download_error = None if cached.is_file() else _download_error(allow_download)
            if download_error is not None:  # fail before the seconds-long torch import
                raise ImageWeightsUnavailable(_no_weights_message(cached, download_error))

        import torch
        import torchvision

        state_dict, self.weights_source, self.model_version = self._resolve_weights(
            Path(weights_path) if weights_path else None, allow_download, random_weights
        )
        self.pretrained = state_dict is not None

        if state_dict is None:
            # Seeded so "random" means the same weights in every process (comparable vectors).
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_SEED)
                model = torchvision.models.resnet50(weights=None)
        else:
            model = torchvision.models.resnet50(weights=None)
            self._load_state_dict(model, state_dict)
        model.fc = torch.nn.Identity()
        model.eval()
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self._dtype = dtype
        self._model = model.to(device=self.device, dtype=dtype, memory_format=torch.channels_last)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0

    # ---- weights -------------------------------------------------------------------------

    def _resolve_weights(
        self, weights_path: Path | None, allow_download: bool, random_weights: bool
    ) -> tuple[dict[str, Any] | None, str, str]:
        import torch
        from torchvision.models import ResNet50_Weights

        if weights_path is not None:
            if not weights_path.is_file():
                raise ImageWeightsUnavailable(
                    f"IMAGE_WEIGHTS={weights_path} does not exist or is not a file"
                )
            try:
                state = _extract_state_dict(
                    torch.load(weights_path, map_location="cpu", weights_only=True)
                )
            except Exception as exc:
                raise ImageWeightsUnavailable(
                    f"IMAGE_WEIGHTS={weights_path} is not a loadable resnet50 state_dict "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            sha = _file_sha1(weights_path)[:12]
            return state, f"file:{weights_path}", f"resnet50:file:sha1={sha}"

        weights = ResNet50_Weights[TORCHVISION_WEIGHTS]
        cached = _torchvision_cache_file()
        source = f"torchvision:{TORCHVISION_WEIGHTS}"
        version = f"resnet50:torchvision:{TORCHVISION_WEIGHTS}:{cached.name}"
        if cached.is_file():
            try:
                state = torch.load(cached, map_location="cpu", weights_only=True)
                return _extract_state_dict(state), source, version
            except Exception as exc:
                logger.warning("Cached ResNet50 weights %s are unreadable: %s", cached, exc)

        download_error = _download_error(allow_download)
        if download_error is None:
            try:
                state = weights.get_state_dict(progress=False, check_hash=True)
                return _extract_state_dict(state), source, version
            except Exception as exc:
                download_error = f"download failed: {type(exc).__name__}: {exc}"

        if random_weights:
            logger.warning(
                "!!! ResNet50 is using RANDOM weights (%s; seed=%d). Poster embeddings carry "
                "almost no semantic signal. Provide IMAGE_WEIGHTS or place %s in %s for real "
                "features. !!!",
                download_error,
                RANDOM_SEED,
                cached.name,
                cached.parent,
            )
            return None, "random", f"resnet50:random:seed={RANDOM_SEED}"

        raise ImageWeightsUnavailable(_no_weights_message(cached, download_error))

    @staticmethod
    def _load_state_dict(model: Any, state: dict[str, Any]) -> None:
        """Load backbone weights; the classifier head (fc.*) is optional since we drop it."""
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            result = model.load_state_dict(backbone, strict=False)
        except RuntimeError as exc:
            raise ImageWeightsUnavailable(f"weights do not fit resnet50: {exc}") from exc
        missing = [k for k in result.missing_keys if not k.startswith("fc.")]
        if missing or result.unexpected_keys:
            raise ImageWeightsUnavailable(
                "weights do not fit resnet50: "
                f"missing={missing[:5]} unexpected={list(result.unexpected_keys)[:5]}"
            )

    # ---- encoding ------------------------------------------------------------------------

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """(n, CROP, CROP, 3) uint8 → (n, 2048) float32 unit-norm rows."""
        import torch

        with self._lock, torch.inference_mode():
            x = torch.from_numpy(batch)
            if self.device == "cuda":
                x = x.pin_memory().to(self.device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float()
            x = ((x - self._mean) / self._std).to(self._dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            feats = self._model(x).float()
            feats = torch.nn.functional.normalize(feats, p=2, dim=1)
            return feats.cpu().numpy().astype(np.float32, copy=False)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed in-memory PIL images (float32 (n, 2048), unit-norm rows)."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            out[start : start + len(chunk)] = self._forward(
                np.stack([_preprocess(i) for i in chunk])
            )
        return out

    def encode_paths(self, paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray, int]:
        """Embed image files; unreadable ones are skipped.

        Returns (embeddings float32 (n_ok, 2048), ok_indices int64 into `paths`, n_failed).
        Decoding runs in `workers` threads one batch ahead of the model.
        """
        n = len(paths)
        embeddings = np.zeros((n, self.dim), dtype=np.float32)
        ok = np.zeros(n, dtype=bool)
        failures: list[tuple[Path, str]] = []
        starts = list(range(0, n, self.batch_size))

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="poster") as pool:

            def submit(start: int) -> list[Future[np.ndarray | str]]:
                end = start + self.batch_size
                return [pool.submit(_safe_load, p) for p in paths[start:end]]

            pending = submit(starts[0]) if starts else []
            for i, start in enumerate(starts):
                current = pending
                if i + 1 < len(starts):
                    pending = submit(starts[i + 1])
                arrays: list[np.ndarray] = []
                positions: list[int] = []
                for offset, future in enumerate(current):
                    result = future.result()
                    if isinstance(result, str):
                        failures.append((Path(paths[start + offset]), result))
                    else:
                        arrays.append(result)
                        positions.append(start + offset)
                if arrays:
                    embeddings[positions] = self._forward(np.stack(arrays))
                    ok[positions] = True

        if failures:
            examples = "; ".join(f"{p}: {err}" for p, err in failures[:_MAX_LOGGED_FAILURES])
            logger.warning(
                "Skipped %d of %d poster images that could not be read (e.g. %s)",
                len(failures),
                n,
                examples,
            )
        ok_indices = np.flatnonzero(ok).astype(np.int64)
        return embeddings[ok_indices], ok_indices, len(failures)
