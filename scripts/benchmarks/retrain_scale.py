"""Full retrain on synthetic data shaped like MovieLens-25M: time, peak memory, serving latency.

MovieLens-25M has 162,541 users, 59,047 movies and 25,000,095 ratings; item popularity is long
tailed (a few thousand movies carry most ratings) and so is user activity (at least 20 ratings
each). The generator reproduces those shapes from a low-rank taste model, with timestamps, and
the training is the service's own (`train_hybrid` with the service's settings, so its size
policy), run in a child process so its peak resident memory is measured alone. Then the trained
hybrid is timed through `HybridRecommender.rank`, and implicit's ALS peer is fitted last (skip it
with `--no-peer`). `--scale 0.1` is the quick run.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from backend.ml.interactions import Interactions, distinct
from scripts.benchmarks.common import ROOT, load_avg, log, peak_rss_mb, save_section, stats_ms

ML25M = {"users": 162_541, "items": 59_047, "ratings": 25_000_095}
FACTORS = 8
OVERDRAW = 1.8


def synthetic_ratings(scale: float, seed: int = 0):  # noqa: ANN201
    """(user ids, item ids, ratings, timestamps), about `scale` x MovieLens-25M."""

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
    key = distinct(users * n_items + items)
    users, items = key // n_items, key % n_items
    rank = np.arange(users.size) - np.searchsorted(users, np.arange(n_users))[users]
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


def _emit(stage: str, **figures: object) -> None:
    print(json.dumps({"stage": stage, **figures}), flush=True)


def child(
    scale: float, peer: bool, serving_users: int, save_dir: str | None, bundle: str | None
) -> None:
    """Generate, train as the service does, time serving, then fit the ALS peer; one JSON
    line per stage (a run stopped by the time limit keeps the stages it finished). With
    `bundle` (a `--save-dir` of an earlier run at the same scale) only serving is timed."""
    from backend.config import Settings
    from backend.ml.hybrid import HybridRecommender
    from backend.ml.scoring import Catalogue
    from backend.ml.training import train_hybrid
    from backend.services.recommender_runtime import RecommenderRuntime

    started, cpu = time.perf_counter(), time.process_time()
    data = synthetic_ratings(scale)
    item_ids = distinct(data.item_ids)
    counts = np.sort(np.bincount(data.item_ids)[item_ids])[::-1]
    _emit(
        "generated",
        seconds=round(time.perf_counter() - started, 1),
        cpu_seconds=round(time.process_time() - cpu, 1),
        users=data.n_users,
        movies=int(item_ids.size),
        ratings=len(data),
        share_of_ratings_on_top_10pct_movies=round(
            float(counts[: max(1, counts.size // 10)].sum() / counts.sum()), 3
        ),
        peak_rss_mb=peak_rss_mb(),
    )
    votes = np.bincount(data.item_ids)[item_ids].astype(np.float64)
    catalogue = Catalogue(item_ids, votes, version="synthetic")
    if bundle is not None:
        started = time.perf_counter()
        model = HybridRecommender.load(Path(bundle)).bind(catalogue)
        _emit("bundle_bound", seconds=round(time.perf_counter() - started, 1))
        _emit("serving", **serving_latency(model, data, serving_users))
        return
    with tempfile.TemporaryDirectory() as tmp:
        params = RecommenderRuntime(Settings(data_dir=Path(tmp))).train_params()
    started, cpu = time.perf_counter(), time.process_time()
    model = train_hybrid(data, catalogue, None, params)
    _emit(
        "service_training",
        seconds=round(time.perf_counter() - started, 1),
        cpu_seconds=round(time.process_time() - cpu, 1),
        peak_rss_mb=peak_rss_mb(),
        size_policy=model.meta["size_policy"],
        stages=model.meta["train_stages"],
        item_model_items=len(model.model("item_item").item_ids),
        item_l2=model.meta["item_l2"],
        svd_factors=params.svd.n_factors,
        svd_epochs=params.svd.n_epochs,
        holdout_rmse=model.meta.get("holdout_rmse"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(save_dir or tmp)
        target.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        model.save(target)
        saved = time.perf_counter() - started
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        _emit("save", seconds=round(saved, 1), bundle_mb=round(size / 2**20, 1))
    _emit("serving", **serving_latency(model, data, serving_users))
    del model
    if peer:
        _emit("als", **als_peer(data))


def serving_latency(model, data, n_users: int, k: int = 10) -> dict:  # noqa: ANN001
    """HybridRecommender.rank (the served entry point: top-k, the user's rated movies
    excluded) for random trained users, one BLAS thread as the API runs it; beside it, for the
    same users in the same loop, the exhaustive path (every movie scored; the text term only
    where it can decide the top-k, `text_pruning`, which gives the same top-k), and how much of
    the exhaustive top-k the candidate path finds (its candidate rows, and its list)."""
    from backend.ml.training import blas_single_thread

    exhaustive = copy.copy(model)
    exhaustive.candidates = None
    rng = np.random.default_rng(1)
    users = rng.choice(distinct(data.user_ids), size=n_users, replace=False)
    histories = data.subset(np.isin(data.user_ids, users)).by_user()
    served_s, exhaustive_s, list_recall, candidate_recall, n_candidates = [], [], [], [], []
    with blas_single_thread():
        for user in users[:20]:  # warm-up, untimed: first calls fill caches and pools
            for ranker in (model, exhaustive):
                ranker.rank(ranker.user(int(user), *histories[int(user)]), k)
        for user in users:
            history = model.user(int(user), *histories[int(user)])
            begin = time.perf_counter()
            served = model.rank(history, k)
            served_s.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            truth = exhaustive.rank(history, k)
            exhaustive_s.append(time.perf_counter() - begin)
            scored = np.flatnonzero(np.isfinite(model.ranked(history, k).scores))
            truth_set = set(truth.tolist())
            list_recall.append(len(truth_set & set(served.tolist())) / max(len(truth), 1))
            candidate_recall.append(len(truth_set & set(scored.tolist())) / max(len(truth), 1))
            n_candidates.append(scored.size)
    return {
        **stats_ms(served_s),
        "candidates": model.candidates is not None,
        "exhaustive": stats_ms(exhaustive_s),
        "recall_at_10_vs_exhaustive": round(float(np.mean(list_recall)), 4),
        "candidate_rows_recall_at_10_vs_exhaustive": round(float(np.mean(candidate_recall)), 4),
        "candidate_rows_p50": float(np.median(n_candidates)),
        "ratings_per_user_p50": float(np.median([len(h[0]) for h in histories.values()])),
        "ratings_per_user_max": int(max(len(h[0]) for h in histories.values())),
    }


def als_peer(data) -> dict:  # noqa: ANN001
    """The peer a catalogue this size could switch to: implicit's ALS on the same ratings
    (conjugate gradient, no dense item-item inverse)."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares

    matrix = sp.csr_matrix((data.ratings.astype(np.float32), (data.user_ids, data.item_ids)))
    started = time.perf_counter()
    AlternatingLeastSquares(factors=64, iterations=15, random_state=0).fit(matrix, False)
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak_rss_mb()}


def _peak_rss(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = MovieLens-25M size")
    parser.add_argument("--limit-minutes", type=float, default=40, help="stop the child then")
    parser.add_argument(
        "--memory-limit-gb",
        type=float,
        default=14,
        help="address-space limit of the child: on a shared machine a MemoryError in the "
        "benchmark beats the kernel's OOM killer choosing someone else's process",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the ALS peer (fitted last, after serving)"
    )
    parser.add_argument("--serving-users", type=int, default=500, help="users timed by rank()")
    parser.add_argument("--save-dir", help="keep the trained bundle there (to inspect it)")
    parser.add_argument(
        "--bundle", help="time serving only, on a bundle saved by --save-dir at the same scale"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        # The training's per-stage lines (time, peak memory, size switches) on stderr.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%X")
        limit = int(args.memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            child(args.scale, not args.no_peer, args.serving_users, args.save_dir, args.bundle)
        except MemoryError:
            _emit("out_of_memory", limit_gb=args.memory_limit_gb, peak_rss_mb=peak_rss_mb())
            return 1
        return 0
    log(f"retrain at {args.scale} x MovieLens-25M size (child process)")
    started = time.monotonic()
    command = [sys.executable, "-m", "scripts.benchmarks.retrain_scale", "--child"]
    process = subprocess.Popen(
        [
            *command,
            *("--scale", str(args.scale), "--memory-limit-gb", str(args.memory_limit_gb)),
            *("--serving-users", str(args.serving_users), *(["--no-peer"] if args.no_peer else [])),
            *(["--save-dir", args.save_dir] if args.save_dir else []),
            *(["--bundle", args.bundle] if args.bundle else []),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    figures: dict = {
        "scale": args.scale,
        "limit_minutes": args.limit_minutes,
        "memory_limit_gb": args.memory_limit_gb,
        "load_avg_at_start": load_avg(),
    }
    peak = 0.0
    stop = threading.Event()

    def watch_memory() -> None:
        nonlocal peak
        while not stop.wait(1.0):
            peak = max(peak, _peak_rss(process.pid) or 0.0)

    watcher = threading.Thread(target=watch_memory, daemon=True)
    watcher.start()
    timer = threading.Timer(args.limit_minutes * 60, process.kill)
    timer.start()
    assert process.stdout is not None
    for line in process.stdout:
        stage = json.loads(line)
        figures[stage.pop("stage")] = stage
        log(f"retrain stage: {line.strip()}")
    process.wait()
    timer.cancel()
    stop.set()
    watcher.join()
    figures["finished"] = process.returncode == 0
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    stage_peaks = [s.get("peak_rss_mb", 0.0) for s in figures.values() if isinstance(s, dict)]
    figures["peak_rss_mb"] = max([peak, *stage_peaks])
    if "service_training" in figures:
        figures["train_seconds"] = figures["service_training"]["seconds"]
    suffix = "" if args.bundle is None else "_serving"  # serving re-timed on a saved bundle
    save_section(f"retrain_scale_{args.scale:g}{suffix}", figures)
    return 0 if figures["finished"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
