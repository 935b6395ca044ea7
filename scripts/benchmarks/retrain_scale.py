"""Full retrain on synthetic data shaped like MovieLens-25M: time and peak memory.

MovieLens-25M has 162,541 users, 59,047 movies and 25,000,095 ratings; item popularity is long
tailed (a few thousand movies carry most ratings) and so is user activity (at least 20 ratings
each). The generator reproduces those shapes from a low-rank taste model, with timestamps, and
the training is the service's own (`train_hybrid` with the service's settings), run in a child
process so its peak resident memory is measured alone. `--scale 0.1` is the quick prototype.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scripts.benchmarks.common import ROOT, log, peak_rss_mb, save_section

ML25M = {"users": 162_541, "items": 59_047, "ratings": 25_000_095}
FACTORS = 8
OVERDRAW = 1.8


def synthetic_ratings(scale: float, seed: int = 0):  # noqa: ANN201
    """(user ids, item ids, ratings, timestamps), about `scale` x MovieLens-25M."""
    from backend.ml.interactions import Interactions

    rng = np.random.default_rng(seed)
    n_users, n_items = int(ML25M["users"] * scale), int(ML25M["items"] * scale)
    target = int(ML25M["ratings"] * scale)
    # Item popularity: Zipf-like over a random order; user activity: 20 + a lognormal tail.
    popularity = 1.0 / (np.arange(n_items) + 10.0) ** 1.2
    popularity = rng.permutation(popularity / popularity.sum())
    activity = 20 + rng.lognormal(mean=3.6, sigma=1.25, size=n_users)
    counts = np.minimum(np.round(activity * (target / activity.sum())), n_items // 2)
    counts = np.maximum(counts, 20).astype(np.int64)
    # Draw more than needed with replacement, keep each user's first `count` distinct movies
    # (in id order, which is unrelated to popularity): popular movies are not over-counted.
    draws = np.ceil(counts * OVERDRAW).astype(np.int64)
    users = np.repeat(np.arange(n_users, dtype=np.int64), draws)
    items = rng.choice(n_items, size=users.size, p=popularity).astype(np.int64)
    key = np.unique(users * n_items + items)
    users, items = key // n_items, key % n_items
    rank = np.arange(users.size) - np.searchsorted(users, users)
    keep = rank < counts[users]
    users, items = users[keep], items[keep]
    taste_u = rng.normal(0, 0.45, (n_users, FACTORS)).astype(np.float32)
    taste_i = rng.normal(0, 0.45, (n_items, FACTORS)).astype(np.float32)
    bias_i = rng.normal(0, 0.4, n_items).astype(np.float32)
    ratings = np.empty(users.size, dtype=np.float64)
    for start in range(0, users.size, 2_000_000):
        u, i = users[start : start + 2_000_000], items[start : start + 2_000_000]
        raw = 3.5 + bias_i[i] + np.einsum("ij,ij->i", taste_u[u], taste_i[i])
        raw += rng.normal(0, 0.6, u.size)
        ratings[start : start + u.size] = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    timestamps = 1_000_000_000 + rng.integers(0, 700_000_000, users.size)
    return Interactions(users + 1, items + 1, ratings, timestamps.astype(np.int64))


def child(scale: float) -> dict:
    """Generate, then train as the service does; figures as JSON on stdout."""
    from backend.config import Settings
    from backend.ml.scoring import Catalogue
    from backend.ml.training import train_hybrid
    from backend.services.recommender_runtime import RecommenderRuntime

    started = time.perf_counter()
    data = synthetic_ratings(scale)
    generated = time.perf_counter() - started
    item_ids = np.unique(data.item_ids)
    votes = np.bincount(data.item_ids)[item_ids].astype(np.float64)
    catalogue = Catalogue(item_ids, votes, version="synthetic")
    with tempfile.TemporaryDirectory() as tmp:
        params = RecommenderRuntime(Settings(data_dir=Path(tmp))).train_params()
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    model = train_hybrid(data, catalogue, None, params)
    seconds = time.perf_counter() - started
    counts = np.bincount(np.searchsorted(item_ids, data.item_ids))
    top = np.sort(counts)[::-1]
    return {
        "scale": scale,
        "users": int(np.unique(data.user_ids).size),
        "movies": int(item_ids.size),
        "ratings": len(data),
        "share_of_ratings_on_top_10pct_movies": round(
            float(top[: max(1, top.size // 10)].sum() / top.sum()), 3
        ),
        "generate_seconds": round(generated, 1),
        "train_seconds": round(seconds, 1),
        "peak_rss_mb_before_training": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "item_model_items": int(getattr(model.items, "n_items", 0) or 0) or params.item_max_items,
        "item_model_max_items": params.item_max_items,
        "svd_factors": params.svd.n_factors,
        "holdout_rmse": model.meta.get("holdout_rmse"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = MovieLens-25M size")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.scale)))
        return 0
    log(f"retrain at {args.scale} x MovieLens-25M size (child process)")
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.benchmarks.retrain_scale",
            "--child",
            "--scale",
            str(args.scale),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    log(f"retrain: {figures}")
    save_section(f"retrain_scale_{args.scale:g}", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
