#!/usr/bin/env python
"""Embedding index quality, recommendation latency against targets, and sample recommendations.

    python scripts/monitor_embeddings.py [--users N] [--json] [--strict]

Latency is measured in this process through MovieRecommender over N users that have ratings:
the first call of each method (cold: caches and the scoring context are built) is reported on
its own, then the warm calls give P50/P95/P99. Targets: warm P50 < 100 ms, P95 < 200 ms,
P99 < 500 ms. `--strict` exits 1 when a target fails; an empty or unreachable database is one
line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

METHODS = {"embedding": "content", "svd": "svd", "hybrid": "hybrid"}
TARGETS_MS = {"warm_p50_ms": 100.0, "p95_ms": 200.0, "p99_ms": 500.0}
QUALITY_KEYS = (
    "coverage",
    "coverage_ratio",
    "movies_in_index",
    "total_movies",
    "poster_coverage",
    "poster_coverage_ratio",
    "posters_embedded",
    "movies_with_poster_file",
    "device",
    "text_model",
    "image_status",
    "index_version",
    "built_at",
    "model_version",
)
EXIT_TARGET_FAILED = 1
EXIT_NO_DATABASE = 2


class MonitorError(Exception):
    """The database is empty or unreachable: reported as one line."""


def percentiles(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"warm_p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}
    arr = np.asarray(values_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "warm_p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "mean_ms": round(float(arr.mean()), 3),
    }


def sample_users(db, n: int) -> list[int]:  # noqa: ANN001
    """Up to n user ids with ratings, spread evenly over the id range (deterministic)."""
    from sqlalchemy import select

    from backend.models import Rating

    ids = list(db.scalars(select(Rating.user_id).distinct().order_by(Rating.user_id)))
    if len(ids) <= n:
        return ids
    picks = np.linspace(0, len(ids) - 1, n).round().astype(int)
    return [ids[i] for i in sorted(set(picks.tolist()))]


def measure(recommender, users: list[int], method: str, n: int = 10) -> dict:  # noqa: ANN001
    started = time.perf_counter()
    first = recommender.recommend(users[0], n, method)
    cold_ms = (time.perf_counter() - started) * 1000.0
    warm: list[float] = []
    fallback = any(r.fallback for r in first)
    for user in users:
        started = time.perf_counter()
        recs = recommender.recommend(user, n, method)
        warm.append((time.perf_counter() - started) * 1000.0)
        fallback = fallback or any(r.fallback for r in recs)
    return {
        "method": method,
        "cold_first_call_ms": round(cold_ms, 3),
        "n_warm_calls": len(warm),
        "fallback_seen": fallback,
        **percentiles(warm),
    }


def check_targets(latency: dict[str, dict]) -> list[dict]:
    checks = []
    for name, stats in latency.items():
        for key, limit in TARGETS_MS.items():
            value = stats.get(key)
            checks.append(
                {
                    "method": name,
                    "metric": key,
                    "target_ms": limit,
                    "value_ms": value,
                    "status": "PASS" if value is not None and value < limit else "FAIL",
                }
            )
    return checks


def collect(db, runtime, n_users: int = 50, n_samples: int = 5) -> dict:  # noqa: ANN001
    """Everything the monitor reports, as one dict (what --json prints)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from backend.ml.embedding_recommender import EmbeddingRecommender
    from backend.ml.recommender import MovieRecommender
    from backend.models import Movie

    try:
        total = db.scalar(select(func.count(Movie.id))) or 0
    except SQLAlchemyError as exc:
        raise MonitorError(f"database unreachable: {_one_line(exc)}") from exc
    if total == 0:
        raise MonitorError(
            "the database has no movies: import a catalogue first "
            "(python -m backend.cli prepare, or scripts/setup_embeddings.py)"
        )
    users = sample_users(db, n_users)
    if not users:
        raise MonitorError("the database has no ratings: there is no user to recommend for")

    metrics = EmbeddingRecommender(db, runtime).get_embedding_quality_metrics()
    quality = {key: metrics.get(key) for key in QUALITY_KEYS}

    recommender = MovieRecommender(db, runtime)
    latency = {name: measure(recommender, users, method) for name, method in METHODS.items()}
    targets = check_targets(latency)

    samples = [
        {
            "movie_id": r.movie.id,
            "title": r.movie.title,
            "vote_average": round(float(r.movie.vote_average or 0.0), 2),
            "score": round(r.score, 4),
            "predicted_rating": r.predicted_rating,
            "reason": r.reason,
            "method": r.method,
            "fallback": r.fallback,
        }
        for r in recommender.recommend(users[0], n_samples, "hybrid")
    ]
    return {
        "quality": quality,
        "latency": latency,
        "targets": targets,
        "passed": all(t["status"] == "PASS" for t in targets),
        "samples": samples,
        "sample_user_id": users[0],
        "n_users": len(users),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def render(report: dict) -> str:
    q = report["quality"]
    lines = [
        "Embedding index",
        f"  coverage          {q['coverage']} ({q['movies_in_index']} of {q['total_movies']} "
        "movies in the index)",
        f"  poster coverage   {q['poster_coverage']} ({q['posters_embedded']} posters embedded, "
        f"{q['movies_with_poster_file']} movies with a poster file)",
        f"  device            {q['device']}",
        f"  text model        {q['text_model']}",
        f"  images            {q['image_status']}",
        f"  index version     {q['index_version']} (built {q['built_at']})",
        "",
        f"Latency over {report['n_users']} users (ms; top-10, in process)",
        f"  {'method':<10}{'cold 1st':>10}{'P50':>9}{'P95':>9}{'P99':>9}{'mean':>9}",
    ]
    for name, s in report["latency"].items():
        lines.append(
            f"  {name:<10}{s['cold_first_call_ms']:>10.1f}{_f(s['warm_p50_ms']):>9}"
            f"{_f(s['p95_ms']):>9}{_f(s['p99_ms']):>9}{_f(s['mean_ms']):>9}"
            + ("   (fallback seen)" if s["fallback_seen"] else "")
        )
    lines += ["", "Targets"]
    for t in report["targets"]:
        lines.append(
            f"  {t['status']:<5} {t['method']:<10} {t['metric']:<12} {_f(t['value_ms']):>9} ms"
            f"  (target < {t['target_ms']:g} ms)"
        )
    lines += ["", f"Sample hybrid recommendations for user {report['sample_user_id']}"]
    for i, s in enumerate(report["samples"], 1):
        lines.append(f"  {i}. {s['title']}  (vote average {s['vote_average']:.1f})  {s['reason']}")
    lines += ["", "ALL TARGETS PASS" if report["passed"] else "SOME TARGETS FAIL"]
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def main(argv: list[str] | None = None, runtime=None, session_factory=None) -> int:  # noqa: ANN001
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="users to measure (default 50)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if session_factory is None:
            from backend.database import SessionLocal as session_factory
        if runtime is None:
            from backend.services.recommender_runtime import get_runtime

            runtime = get_runtime()
        with session_factory() as db:
            report = collect(db, runtime, n_users=args.users)
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_DATABASE
    except (SQLAlchemyError, OSError) as exc:
        print(f"error: database unreachable or not migrated: {_one_line(exc)}", file=sys.stderr)
        return EXIT_NO_DATABASE
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    if args.strict and not report["passed"]:
        return EXIT_TARGET_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
