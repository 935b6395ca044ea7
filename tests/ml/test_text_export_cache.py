"""The ONNX export is cached per model version: a later encoder runs from it without loading the
PyTorch model, and another model version (or token limit) is another export / version.

A tiny randomly initialised BERT sentence model is built in a temporary folder, so the export
takes a fraction of a second."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backend.ml import text_onnx
from backend.ml.text_encoder import TextEncoder

pytestmark = pytest.mark.skipif(not text_onnx.onnx_available(), reason="onnxruntime missing")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "space", "story", "love", "war", "film"]
TEXTS = ["a space story", "love", "a war film about a space war " * 4, "unknown words"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny_text_model")
    (root / "vocab.txt").write_text("\n".join(WORDS))
    hf = root / "hf"
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(str(hf))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(str(hf))
    modules = [
        models.Transformer(str(hf), max_seq_length=32),
        models.Pooling(16, "mean"),
        models.Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(root / "model"))
    return root / "model"


@pytest.fixture()
def exports(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every ONNX export made during the test."""
    made: list[Path] = []
    export = text_onnx._export

    def counted(sentence_model, path: Path) -> None:  # noqa: ANN001
        made.append(path)
        export(sentence_model, path)

    monkeypatch.setattr(text_onnx, "_export", counted)
    return made


def test_a_second_encoder_runs_from_the_export_without_pytorch(
    tiny_model: Path, tmp_path: Path, exports: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=tmp_path, batch_size=2)
    vectors = first.encode(TEXTS)
    assert len(exports) == 1 and first.loaded
    expected_ids = first._model.tokenizer(TEXTS, truncation=True, max_length=32)["input_ids"]

    def no_pytorch(self: TextEncoder) -> None:
        raise AssertionError("the PyTorch model was loaded")

    monkeypatch.setattr(TextEncoder, "_load_model", no_pytorch)
    second = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=tmp_path, batch_size=2)
    np.testing.assert_allclose(second.encode(TEXTS), vectors, atol=1e-6)
    assert len(exports) == 1  # not exported again
    assert second.dim == 16 and second.model_version == first.model_version
    assert second._onnx.token_ids(TEXTS) == expected_ids  # the model's own tokenisation


def test_a_changed_model_version_is_exported_again(
    tiny_model: Path, tmp_path: Path, exports: list[Path]
) -> None:
    TextEncoder(str(tiny_model), backend="onnx", onnx_dir=tmp_path).encode(TEXTS[:1])
    changed = tmp_path / "changed" / "model"
    shutil.copytree(tiny_model, changed)
    config = changed / "sentence_bert_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "max_seq_length": 8}))
    encoder = TextEncoder(str(changed), backend="onnx", onnx_dir=tmp_path)
    encoder.encode(TEXTS[:1])
    assert len(exports) == 2 and exports[0].parent != exports[1].parent
    assert encoder.model_version != TextEncoder(str(tiny_model)).model_version


def test_a_shorter_token_limit_is_another_version_from_the_same_export(
    tiny_model: Path, tmp_path: Path, exports: list[Path]
) -> None:
    full = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=tmp_path)
    cut = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=tmp_path, max_seq_length=6)
    long_text = [TEXTS[2]]
    assert float((full.encode(long_text) @ cut.encode(long_text).T)[0, 0]) < 1.0 - 1e-4
    np.testing.assert_allclose(full.encode(TEXTS[1:2]), cut.encode(TEXTS[1:2]), atol=1e-6)
    assert len(exports) == 1
    assert cut.model_version == full.model_version + "+max6"


def test_an_export_made_at_install_serves_any_onnx_directory(
    tiny_model: Path, tmp_path: Path, exports: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    install = tmp_path / "venv-share"
    monkeypatch.setattr(text_onnx, "install_cache_dir", lambda: install)
    made = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=install)
    vectors = made.encode(TEXTS)
    monkeypatch.setattr(TextEncoder, "_load_model", lambda self: pytest.fail("PyTorch loaded"))
    fresh = TextEncoder(str(tiny_model), backend="onnx-int8", onnx_dir=tmp_path / "data")
    np.testing.assert_allclose(fresh.encode(TEXTS), vectors, atol=1e-6)
    assert len(exports) == 1 and not (tmp_path / "data").exists()
