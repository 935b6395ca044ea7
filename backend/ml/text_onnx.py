"""Run a sentence-transformers text model with ONNX Runtime on CPU (fp32, or int8 weights).

The transformer is exported once from the loaded PyTorch weights (offline, a few seconds) and
kept beside the models in a folder keyed by the model version (`prepare`), with the tokenizer
and the few facts the runner needs; from then on an encoder runs from that folder with
`tokenizers` and ONNX Runtime only, without importing PyTorch or sentence-transformers (most of
a fresh process's start). Mean pooling and L2 normalisation are the model's own (MiniLM: mean
over real tokens). fp32 gives the PyTorch vectors to float precision at about 1.5x the speed;
int8 (per-channel dynamic quantisation, the CPU default) is faster again, with its agreement
with PyTorch's vectors and neighbours measured by `scripts/benchmarks/text_index.py`
(docs/performance.md). Texts are tokenised in one call and run in batches of similar token
counts, so padding costs next to nothing.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 17
FP32_FILE, INT8_FILE = "model.onnx", "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
# Written last by `prepare`: the folder is complete when it exists.
RUNNER_FILE = "runner.json"
# Texts per ONNX Runtime call at most: small batches of similar lengths keep each call's
# activations in cache.
ONNX_BATCH = 8


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def supports(sentence_model: Any) -> bool:
    """Only a transformer followed by mean pooling (and optionally Normalize) is reproduced."""
    modules = list(sentence_model)
    if len(modules) < 2 or not hasattr(modules[0], "auto_model"):
        return False
    pooling = modules[1]
    names = {type(m).__name__ for m in modules[2:]}
    # sentence-transformers >= 5 names the mode; older releases set one boolean per mode.
    mode = getattr(pooling, "pooling_mode", None)
    mean_only = (
        mode == "mean"
        if mode is not None
        else (
            getattr(pooling, "pooling_mode_mean_tokens", False)
            and not getattr(pooling, "pooling_mode_cls_token", False)
            and not getattr(pooling, "pooling_mode_max_tokens", False)
        )
    )
    return bool(mean_only) and names <= {"Normalize"}


def _export(sentence_model: Any, path: Path) -> None:
    """The transformer of `sentence_model` to ONNX with dynamic batch and sequence axes."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = sentence_model.tokenizer(["a short example", "x"], padding=True, return_tensors="pt")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # The tracer warns about the model's Python-side shape checks, which the dynamic axes cover
    # (test_text_backends checks the exported graph against PyTorch on texts of other lengths).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(sentence_model[0].auto_model).eval(),
            tuple(example[name] for name in INPUTS),
            str(tmp),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")
            },
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    os.replace(tmp, path)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    logger.info("quantizing the text model's weights to int8 (%s)", target)
    # The quantizer logs a line per tensor (and advice) on the root logger: keep the log readable.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)
    os.replace(tmp, target)


def ready(directory: Path, int8: bool) -> bool:
    """Whether `prepare` has completed `directory` for this precision."""
    model = directory / (INT8_FILE if int8 else FP32_FILE)
    return (directory / RUNNER_FILE).is_file() and model.is_file()


def prepare(sentence_model: Any, directory: Path, int8: bool, dim: int) -> None:
    """Export the model's transformer (and its int8 quantisation) into `directory` once, with
    its tokenizer and what the runner needs: later runs start from the folder alone."""
    directory.mkdir(parents=True, exist_ok=True)
    fp32 = directory / FP32_FILE
    if not fp32.exists():
        logger.info("exporting the text model to ONNX (%s)", fp32)
        _export(sentence_model, fp32)
    if int8 and not (directory / INT8_FILE).exists():
        _quantize(fp32, directory / INT8_FILE)
    tokenizer = sentence_model.tokenizer
    _write_atomic(directory / TOKENIZER_FILE, tokenizer.backend_tokenizer.to_str())
    runner = {
        "max_seq_length": int(sentence_model.max_seq_length),
        "pad_token_id": int(tokenizer.pad_token_id or 0),
        "dim": int(dim),
    }
    _write_atomic(directory / RUNNER_FILE, json.dumps(runner))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class OnnxTextRunner:
    """Tokenise with the model's own tokenizer (`tokenizers`), run the ONNX graph, mean-pool and
    normalise; built from a folder `prepare` completed, so nothing of PyTorch is imported.
    `max_seq_length` below the model's own cuts texts shorter (a different model version)."""

    def __init__(
        self, directory: Path, int8: bool, threads: int = 0, max_seq_length: int | None = None
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        runner = json.loads((directory / RUNNER_FILE).read_text())
        self.threads = threads or (os.cpu_count() or 1)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallel over batches instead (`encode`)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = directory / (INT8_FILE if int8 else FP32_FILE)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.max_length = min(int(runner["max_seq_length"]), max_seq_length or 1 << 30)
        self.pad_id = int(runner["pad_token_id"])
        self.dim = int(runner["dim"])
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, special tokens included, cut at `max_length`."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]

    def encode(
        self, texts: list[str], batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        # One tokenizer call for every text (the fast tokenizer batches it natively), then
        # batches of similar token counts, longest first: each pads to within a few tokens of
        # its longest text. Batches run on `threads` single-threaded runs at once (ONNX
        # Runtime sessions run concurrently), small enough that their activations stay in
        # cache: both cost less CPU than splitting each of fewer, larger batches' operators
        # over the cores (docs/performance.md, text index).
        tokens = self.token_ids(texts)
        lengths = np.fromiter((len(ids) for ids in tokens), dtype=np.int64, count=len(tokens))
        order = np.argsort(-lengths, kind="stable")
        size = max(1, min(batch_size, ONNX_BATCH))
        batches = [order[start : start + size] for start in range(0, len(texts), size)]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with ThreadPoolExecutor(self.threads) as pool:
            pooled = pool.map(lambda rows: self._pooled(rows, tokens, lengths), batches)
            for rows, vectors in zip(batches, pooled, strict=True):
                out[rows] = vectors
                if on_batch is not None:
                    on_batch(len(rows))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _pooled(self, rows: np.ndarray, tokens: list[list[int]], lengths: np.ndarray) -> np.ndarray:
        """Mean over real tokens of the last hidden state, for one batch of texts."""
        feed = _padded(tokens, rows, lengths, self.pad_id)
        hidden = self.session.run(None, feed)[0]
        mask = feed["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


def _padded(
    tokens: list[list[int]], rows: np.ndarray, lengths: np.ndarray, pad_id: int
) -> dict[str, np.ndarray]:
    """The model inputs for `rows`: token ids right-padded to the batch's longest text."""
    width = int(lengths[rows].max())
    mask = np.arange(width)[None, :] < lengths[rows][:, None]
    ids = np.full(mask.shape, pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(
        (t for row in rows for t in tokens[row]), dtype=np.int64, count=int(mask.sum())
    )
    return {
        "input_ids": ids,
        "attention_mask": mask.astype(np.int64),
        "token_type_ids": np.zeros_like(ids),
    }


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "movierec-onnx"


def install_cache_dir() -> Path:
    """Where `make install` leaves the export: beside the installed packages it is made from
    (the model package, PyTorch, ONNX Runtime), so every data directory finds it."""
    return Path(sys.prefix) / "share" / "movierec" / "onnx"
