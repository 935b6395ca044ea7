"""ONNX Runtime text backends against PyTorch on the bundled MiniLM (exported offline)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.ml import text_encoder as text_encoder_module
from backend.ml import text_onnx
from backend.ml.text_encoder import ModelUnavailableError, TextEncoder

pytestmark = pytest.mark.skipif(not text_onnx.onnx_available(), reason="onnxruntime missing")

TEXTS = [
    "Toy Story (1995). Genres: Adventure, Animation. Led by Woody, Andy's toys live happily.",
    "Alien (1979). Genres: Horror, Sci-Fi. A space crew answers a distress call. " * 4,
    "x",
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return TextEncoder(backend="torch").encode(TEXTS)


def test_onnx_fp32_gives_pytorchs_vectors(tmp_path, torch_vectors, monkeypatch):
    # As on a machine where `make install` has not exported the model: an install export
    # would be used instead of exporting into this test's folder.
    monkeypatch.setattr(text_onnx, "install_cache_dir", lambda: tmp_path / "no-install-export")
    encoder = TextEncoder(backend="onnx", onnx_dir=tmp_path, batch_size=2)
    vectors = encoder.encode(TEXTS)
    assert encoder.backend == "onnx" and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert encoder.model_version == TextEncoder(backend="torch").model_version
    assert list(tmp_path.glob("*/model.onnx"))  # exported once, reused by the next process


def test_onnx_int8_is_close_and_versioned_apart(tmp_path, torch_vectors):
    encoder = TextEncoder(backend="onnx-int8", onnx_dir=tmp_path)
    cosine = (encoder.encode(TEXTS) * torch_vectors).sum(axis=1)
    assert cosine.min() > 0.95
    assert encoder.model_version.endswith("+int8")
    assert encoder.model_version != TextEncoder(backend="torch").model_version


def test_auto_prefers_int8_onnx_on_cpu_and_torch_on_request():
    assert TextEncoder(device="cpu").backend == "onnx-int8"
    assert TextEncoder(device="cpu").model_version.endswith("+int8")
    assert TextEncoder(backend="torch").backend == "torch"


def test_auto_keeps_torch_on_cuda(monkeypatch):
    monkeypatch.setattr(text_encoder_module, "resolve_device", lambda device: "cuda")
    encoder = TextEncoder(device="cuda")
    assert encoder.backend == "torch"
    assert not encoder.model_version.endswith("+int8")


def test_onnx_batches_pad_to_their_own_longest_text(tmp_path, torch_vectors):
    """Texts of very different lengths in one call: each batch pads to its own longest text, and
    every vector lands on its own row whatever the batch order."""
    texts = [TEXTS[2], TEXTS[0], TEXTS[1], TEXTS[0] + " More.", TEXTS[2]]
    encoder = TextEncoder(backend="onnx", onnx_dir=tmp_path, batch_size=2)
    vectors = encoder.encode(texts)
    np.testing.assert_allclose(vectors[[1, 2, 0, 4]], torch_vectors[[0, 1, 2, 2]], atol=1e-5)
    assert np.dot(vectors[3], vectors[1]) < 1.0 - 1e-6  # its own text, not its neighbour's


def test_onnx_backend_without_onnxruntime_fails_clearly(monkeypatch):
    monkeypatch.setattr(text_onnx, "onnx_available", lambda: False)
    with pytest.raises(ModelUnavailableError, match="pip install onnxruntime"):
        TextEncoder(backend="onnx")
    assert TextEncoder().backend == "torch"


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_encoded_texts_are_counted_for_progress(tmp_path, backend):
    encoder = TextEncoder(backend=backend, onnx_dir=tmp_path, batch_size=2)
    encoder.encode(TEXTS)
    encoder.encode(TEXTS[:1])
    assert encoder.texts_encoded == len(TEXTS) + 1
