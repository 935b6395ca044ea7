"""Text index build speed and quality, per encoder backend (PyTorch, ONNX fp32, ONNX int8).

Encodes the ml-latest-small movie texts composed as the index builder does (title with year,
genres, MovieLens tags, TMDB overview) and reports the token-length distribution (the share of
texts the model's 256-token limit and a 128-token limit would cut), texts/s, the projected
full-catalogue time, and how close each backend's vectors are to PyTorch's and to fp32 ONNX's:
cosine per movie, recall@10 of each movie's nearest neighbours, and the share of neighbours
sharing a genre (the embedding quality metric); `onnx-int8@128` is int8 with texts cut at 128
tokens. `--full` times the whole catalogue with the default backend (what `build-index` runs)
in a fresh process: start-up and imports, model loading, encoding by token-length bucket, and
whether PyTorch was imported at all.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np

from backend.ml.text_encoder import TextEncoder
from scripts.benchmarks.common import METADATA_SMALL, MOVIELENS_SMALL, ROOT, log, save_section

K = 10
TOKEN_LIMITS = (64, 96, 128, 192, 256)


def movie_texts() -> tuple[list[str], list[set[str]]]:
    tags: dict[str, list[str]] = defaultdict(list)
    with (MOVIELENS_SMALL / "tags.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            tags[row["movieId"]].append(row["tag"])
    with METADATA_SMALL.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [
        TextEncoder.movie_text(r["title"], None, r["genres"], r["overview"], tags[r["movieId"]])
        for r in rows
    ]
    genres = [set(r["genres"].split("|")) - {"(no genres listed)"} for r in rows]
    return texts, genres


def token_lengths(encoder: TextEncoder, texts: list[str]) -> dict:
    """Tokens per text (special tokens included) and the share each limit would truncate."""
    tokenizer = encoder.load()._model.tokenizer
    ids = tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    kept = {limit: np.minimum(lengths, limit).sum() for limit in TOKEN_LIMITS}
    return {
        "percentiles": {
            f"p{p}": int(v)
            for p, v in zip(
                (10, 50, 90, 95, 99), np.percentile(lengths, [10, 50, 90, 95, 99]), strict=True
            )
        },
        "max": int(lengths.max()),
        "mean": round(float(lengths.mean()), 1),
        "model_max_seq_length": int(encoder._model.max_seq_length),
        "truncated_share": {
            str(limit): round(float(np.mean(lengths > limit)), 4) for limit in TOKEN_LIMITS
        },
        "tokens_kept_vs_256": {
            str(limit): round(float(kept[limit] / kept[256]), 4) for limit in TOKEN_LIMITS
        },
    }


def neighbours(vectors: np.ndarray, k: int = K) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argpartition(-sims, k, axis=1)[:, :k]


def genre_agreement(nbrs: np.ndarray, genres: list[set[str]]) -> float:
    shared = [bool(genres[i] & genres[j]) for i, row in enumerate(nbrs) for j in row]
    return float(np.mean(shared))


def agreement(
    vectors: np.ndarray, nbrs: np.ndarray, ref: np.ndarray, ref_nbrs: np.ndarray, name: str
) -> dict:
    """Cosine between each movie's two vectors, and recall@10 of its neighbours, vs `name`."""
    cos = (vectors * ref).sum(axis=1)
    same = (nbrs[:, :, None] == ref_nbrs[:, None, :]).any(axis=2).mean(axis=1)
    return {
        f"cosine_to_{name}_min": round(float(cos.min()), 5),
        f"cosine_to_{name}_p1": round(float(np.percentile(cos, 1)), 5),
        f"cosine_to_{name}_mean": round(float(cos.mean()), 5),
        f"neighbour_recall_at_10_vs_{name}": round(float(same.mean()), 4),
    }


def _encoder(backend: str) -> TextEncoder:
    """`backend`, or `backend@N` for the same with texts cut at N tokens."""
    name, _, limit = backend.partition("@")
    return TextEncoder(
        backend=name,  # type: ignore[arg-type]
        onnx_dir=ROOT / "data" / "models" / "onnx",
        max_seq_length=int(limit) if limit else None,
    )


def compare_backends(texts: list[str], genres: list[set[str]], backends: list[str]) -> dict:
    out: dict = {}
    references: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for backend in backends:
        encoder = _encoder(backend).load()
        encoder.encode(texts[:64])  # warm-up: first-call allocations and thread start
        started, cpu_started = time.perf_counter(), time.process_time()
        vectors = encoder.encode(texts)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        nbrs = neighbours(vectors)
        row = {
            "texts": len(texts),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "texts_per_second": round(len(texts) / seconds, 1),
            "genre_agreement_at_10": round(genre_agreement(nbrs, genres), 4),
        }
        for name, (ref, ref_nbrs) in references.items():
            row |= agreement(vectors, nbrs, ref, ref_nbrs, name)
        if backend in ("torch", "onnx", "onnx-int8"):
            references[backend] = (vectors, nbrs)
        out[backend] = row
        log(f"text {backend}: {row}")
    return out


def full_build(texts: list[str]) -> dict:
    """The whole catalogue with the default backend in a fresh process, as `build-index` runs:
    imports, model loading and encoding timed apart, encoding by token-length bucket."""
    command = [sys.executable, "-m", "scripts.benchmarks.text_index", "--full-child"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(time.perf_counter() - started, 2)
    # interpreter start, imports (backend.ml.text_encoder, numpy, ...) and reading the texts
    figures["startup_seconds"] = round(figures["process_seconds"] - figures["seconds"], 2)
    log(f"full text index, fresh process: {figures}")
    return figures


def _full_child() -> None:
    texts, _ = movie_texts()
    started = time.perf_counter()
    encoder = TextEncoder(onnx_dir=ROOT / "data" / "models" / "onnx").load()
    loaded = time.perf_counter()
    cpu = time.process_time()
    lengths = np.array([len(ids) for ids in encoder._onnx.token_ids(texts)])
    buckets = {}
    for low, high in ((0, 64), (64, 128), (128, 1 << 30)):
        rows = np.flatnonzero((lengths > low) & (lengths <= high))
        begin = time.perf_counter()
        encoder.encode([texts[i] for i in rows])
        buckets[f"{low + 1}-{high if high < 1 << 30 else 'max'} tokens"] = {
            "texts": int(rows.size),
            "tokens": int(lengths[rows].sum()),
            "seconds": round(time.perf_counter() - begin, 2),
        }
    done = time.perf_counter()
    figures = {
        "backend": encoder.backend,
        "texts": len(texts),
        "load_seconds": round(loaded - started, 2),
        "encode_seconds": round(done - loaded, 2),
        "encode_cpu_seconds": round(time.process_time() - cpu, 2),
        "seconds": round(done - started, 2),
        "torch_imported": "torch" in sys.modules,
        "sentence_transformers_imported": "sentence_transformers" in sys.modules,
        "encode_by_token_length": buckets,
    }
    print(json.dumps(figures), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2000, help="movies for the comparison")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,onnx-int8@128")
    parser.add_argument("--full", action="store_true", help="also time the whole catalogue")
    parser.add_argument("--full-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.full_child:
        _full_child()
        return 0
    texts, genres = movie_texts()
    pick = np.random.default_rng(0).choice(len(texts), min(args.sample, len(texts)), replace=False)
    figures: dict = {
        "catalogue_texts": len(texts),
        "default_backend": TextEncoder().backend,
        "token_lengths": token_lengths(TextEncoder(backend="torch"), texts),
        "backends": compare_backends(
            [texts[i] for i in pick], [genres[i] for i in pick], args.backends.split(",")
        ),
    }
    log(f"token lengths: {figures['token_lengths']}")
    if args.full:
        figures["full_build"] = full_build(texts)
    save_section("text_index", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
