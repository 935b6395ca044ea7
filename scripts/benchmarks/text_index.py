"""Text index build speed and quality, per encoder backend (PyTorch, ONNX fp32, ONNX int8).

Encodes the ml-latest-small movie texts (title, genres, TMDB overview, composed as the index
builder does) and reports texts/s, the projected full-catalogue time, and how close each backend's
vectors are to PyTorch's: cosine per movie, recall@10 of each movie's nearest neighbours, and the
share of neighbours sharing a genre (the embedding quality metric). `--full` times the whole
catalogue with the default backend, which is what `build-index` runs.
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np

from backend.ml.text_encoder import TextEncoder
from scripts.benchmarks.common import METADATA_SMALL, ROOT, log, save_section

K = 10


def movie_texts() -> tuple[list[str], list[set[str]]]:
    with METADATA_SMALL.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [TextEncoder.movie_text(r["title"], None, r["genres"], r["overview"]) for r in rows]
    genres = [set(r["genres"].split("|")) - {"(no genres listed)"} for r in rows]
    return texts, genres


def neighbours(vectors: np.ndarray, k: int = K) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return np.argpartition(-sims, k, axis=1)[:, :k]


def genre_agreement(nbrs: np.ndarray, genres: list[set[str]]) -> float:
    shared = [bool(genres[i] & genres[j]) for i, row in enumerate(nbrs) for j in row]
    return float(np.mean(shared))


def compare_backends(texts: list[str], genres: list[set[str]], backends: list[str]) -> dict:
    out: dict = {}
    reference: np.ndarray | None = None
    reference_nbrs: np.ndarray | None = None
    onnx_dir = ROOT / "data" / "models" / "onnx"
    for backend in backends:
        encoder = TextEncoder(backend=backend, onnx_dir=onnx_dir).load()
        encoder.encode(texts[:64])  # warm-up: first-call allocations and thread start
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        seconds = time.perf_counter() - started
        nbrs = neighbours(vectors)
        row = {
            "texts": len(texts),
            "seconds": round(seconds, 2),
            "texts_per_second": round(len(texts) / seconds, 1),
            "genre_agreement_at_10": round(genre_agreement(nbrs, genres), 4),
        }
        if reference is None:
            reference, reference_nbrs = vectors, nbrs
        else:
            assert reference_nbrs is not None
            cos = (vectors * reference).sum(axis=1)
            same = [len(set(a) & set(b)) / K for a, b in zip(nbrs, reference_nbrs, strict=True)]
            row |= {
                "cosine_to_torch_min": round(float(cos.min()), 5),
                "cosine_to_torch_mean": round(float(cos.mean()), 5),
                "neighbour_recall_at_10_vs_torch": round(float(np.mean(same)), 4),
            }
        out[backend] = row
        log(f"text {backend}: {row}")
    return out


def full_build(texts: list[str]) -> dict:
    encoder = TextEncoder(onnx_dir=ROOT / "data" / "models" / "onnx")
    started = time.perf_counter()
    encoder.load()
    loaded = time.perf_counter() - started
    encoder.encode(texts)
    total = time.perf_counter() - started
    log(f"full text index ({encoder.backend}): {total:.1f} s for {len(texts)} texts")
    return {
        "backend": encoder.backend,
        "texts": len(texts),
        "load_seconds": round(loaded, 2),
        "seconds": round(total, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=2000, help="movies for the comparison")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--full", action="store_true", help="also time the whole catalogue")
    args = parser.parse_args(argv)
    texts, genres = movie_texts()
    pick = np.random.default_rng(0).choice(len(texts), min(args.sample, len(texts)), replace=False)
    figures: dict = {
        "catalogue_texts": len(texts),
        "backends": compare_backends(
            [texts[i] for i in pick], [genres[i] for i in pick], args.backends.split(",")
        ),
    }
    if args.full:
        figures["full_build"] = full_build(texts)
    save_section("text_index", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
