"""Evaluation data: MovieLens files read straight from disk (never the service database), a
generated dataset for CI, and cached text embeddings of every movie."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.ml.interactions import Interactions
from backend.ml.movielens import parse_metadata, parse_movielens
from backend.ml.text_encoder import TextEncoder

log = logging.getLogger(__name__)

DATASETS = ("ml-100k", "ml-latest-small")
_METADATA = {
    "ml-100k": "ml-100k_tmdb/items.csv",
    "ml-latest-small": "ml-latest-small_tmdb/movies_enriched.csv",
}


@dataclass
class EvalDataset:
    """Ratings plus, for every movie, the text the content model embeds and a metadata prior."""

    name: str
    ratings: Interactions
    movie_ids: np.ndarray
    texts: list[str]
    vote_counts: np.ndarray
    info: dict = field(default_factory=dict)
    genres: list[list[str]] = field(default_factory=list)


def load_movielens(data_dir: Path | str, name: str) -> EvalDataset:
    """ml-100k or ml-latest-small from a shared-data folder laid out as ../shared/data, read by
    the importer's reader (backend.ml.movielens).

    The text of a movie is title, year, genres and TMDB overview. MovieLens tags are left out on
    purpose: they are user feedback (a user tagging a movie they rated), so they would leak the
    held-out interactions into the content signal.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    root = Path(data_dir)
    _, parsed, rows = parse_movielens(root / "movielens" / name)
    movies = {
        movie_id: (movie.title, movie.year, _genre_list(movie.genres))
        for movie_id, movie in parsed.items()
    }
    metadata, _ = parse_metadata(root / "overviews" / _METADATA[name])
    overviews = {movie_id: meta["overview"] for movie_id, meta in metadata.items()}
    votes = {movie_id: meta["vote_count"] or 0.0 for movie_id, meta in metadata.items()}
    table = np.array(rows, dtype=np.float64)
    return _assemble(name, movies, table[:, 0], table[:, 1], table[:, 2].astype(np.float64),
                     overviews, votes, table[:, 3].astype(np.float64))  # fmt: skip


def _genre_list(genres: str) -> list[str]:
    return [g for g in genres.split("|") if g and g != "(no genres listed)"]


def _assemble(name, movies, users, items, ratings, overviews, votes, times=None) -> EvalDataset:  # noqa: ANN001
    ids = np.array(sorted(movies), dtype=np.int64)
    texts = [
        TextEncoder.movie_text(movies[m][0], movies[m][1], movies[m][2], overviews.get(m))
        for m in ids
    ]
    vote_counts = np.array([votes.get(int(m), 0.0) for m in ids])
    data = Interactions(np.asarray(users, np.int64), np.asarray(items, np.int64), ratings, times)
    info = {
        "ratings": len(data),
        "users": data.n_users,
        "movies": len(ids),
        "rated_movies": data.n_items,
        "with_overview": int(sum(1 for m in ids if overviews.get(int(m)))),
        "with_vote_count": int((vote_counts > 0).sum()),
    }
    genres = [list(movies[m][2]) for m in ids]
    return EvalDataset(name, data, ids, texts, vote_counts, info, genres)


def synthetic_dataset(
    seed: int = 0, n_users: int = 300, n_movies: int = 360, per_user: int = 40
) -> EvalDataset:
    """A generated MovieLens-like dataset with overviews, for CI (no shared data needed).

    Users have tastes over latent themes; a movie's overview uses its theme's words, so content
    carries signal; watching depends on taste and on a popularity that TMDB-like vote counts
    reflect noisily; ratings depend on taste.
    """
    rng = np.random.default_rng(seed)
    n_themes = 8
    words = [[f"w{t}x{j}" for j in range(12)] for t in range(n_themes)]
    common = [f"common{j}" for j in range(30)]
    theme = rng.integers(0, n_themes, n_movies)
    second = rng.integers(0, n_themes, n_movies)
    popularity = rng.gamma(0.8, 1.0, n_movies)
    taste = rng.dirichlet(np.full(n_themes, 0.4), n_users)
    quality = rng.normal(0, 0.5, n_movies)
    users, items, ratings = [], [], []
    for u in range(n_users):
        affinity = 0.75 * taste[u, theme] + 0.25 * taste[u, second]
        logits = np.log(popularity + 1e-3) + 4.0 * affinity + rng.normal(0, 0.5, n_movies)
        p = np.exp(logits - logits.max())
        count = int(np.clip(rng.poisson(per_user), 8, n_movies // 2))
        chosen = rng.choice(n_movies, size=count, replace=False, p=p / p.sum())
        value = 3.0 + 3.0 * affinity[chosen] + quality[chosen] + rng.normal(0, 0.6, count)
        users.append(np.full(count, u + 1))
        items.append(chosen + 1)
        ratings.append(np.clip(np.round(value), 1, 5))
    movies, overviews = {}, {}
    for m in range(n_movies):
        own = rng.choice(words[theme[m]], size=6, replace=False).tolist()
        other = rng.choice(words[second[m]], size=2, replace=False).tolist()
        filler = rng.choice(common, size=4, replace=False).tolist()
        text = own + other + filler
        rng.shuffle(text)
        movies[m + 1] = (f"Movie {m + 1}", 1970 + m % 50, [f"Genre{theme[m]}"])
        overviews[m + 1] = " ".join(text) + "."
    votes = {m + 1: float(np.round(popularity[m] * 500 * rng.lognormal(0, 0.5)))
             for m in range(n_movies)}  # fmt: skip
    return _assemble(
        "synthetic",
        movies,
        np.concatenate(users),
        np.concatenate(items),
        np.concatenate(ratings).astype(np.float64),
        overviews,
        votes,
        rng.permutation(sum(len(r) for r in ratings)).astype(np.float64),
    )


class HashingTextEncoder:
    """A tiny deterministic bag-of-words encoder for generated data (no model download)."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_version = f"hashing-bow-{dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[a-z0-9]+", text.lower()):
                slot = int(hashlib.md5(token.encode()).hexdigest()[:8], 16) % self.dim
                out[row, slot] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def text_embeddings(
    dataset: EvalDataset,
    cache_dir: Path | str | None = None,
    encoder=None,  # noqa: ANN001
) -> tuple[np.ndarray, str]:
    """Unit-norm text embeddings aligned with `dataset.movie_ids`, cached as .npy by version."""
    encoder = encoder or TextEncoder()
    version = encoder.model_version
    digest = hashlib.sha1("\n".join(dataset.texts).encode()).hexdigest()[:10]
    safe = re.sub(r"[^A-Za-z0-9._=+-]+", "_", version)
    path = Path(cache_dir) / f"{dataset.name}-{safe}-{digest}.npy" if cache_dir else None
    if path is not None and path.is_file():
        matrix = np.load(path)
        if matrix.shape[0] == len(dataset.texts):
            return matrix.astype(np.float32), version
    started = time.perf_counter()
    matrix = np.asarray(encoder.encode(dataset.texts), dtype=np.float32)
    log.info("encoded %d movie texts in %.1f s", len(dataset.texts), time.perf_counter() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, matrix)
        tmp.replace(path)
    return matrix, version


def index_embeddings(dataset: EvalDataset, index_dir: Path | str) -> tuple[np.ndarray, str]:
    """Text embeddings aligned with `dataset.movie_ids` from a published embedding index (zero
    rows where it has none). Its text includes MovieLens tags, which are user feedback: prefer
    `text_embeddings` and say so when figures come from here."""
    from backend.ml.index_store import IndexStore

    index = IndexStore(index_dir).load()
    if index is None:
        raise ValueError(f"no published embedding index under {index_dir}")
    rows = index.rows_for(dataset.movie_ids)
    text = np.asarray(index.text, dtype=np.float32)
    matrix = np.where((rows >= 0)[:, None], text[np.maximum(rows, 0)], 0.0).astype(np.float32)
    return matrix, f"{index.manifest.get('text_model', 'index')} (service index {index.version})"
