#!/usr/bin/env python
"""Prepare everything in one command: migrate, import the catalogue if the database is empty,
build the embedding index and train the models; ends with a summary.

    python scripts/setup_embeddings.py [--movielens DIR --metadata CSV --posters DIR ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movielens", type=Path, help="local MovieLens directory to import")
    parser.add_argument("--metadata", type=Path, help="TMDB-style metadata CSV")
    parser.add_argument("--posters", type=Path, action="append", help="poster directory")
    parser.add_argument("--max-movies", type=int, help="index only the first N movies")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001 - one clear line, non-zero exit
        from backend.cli import one_line

        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    from backend.cli import migrate
    from backend.config import get_settings
    from backend.database import SessionLocal
    from backend.ml.embedding_recommender import EmbeddingRecommender
    from backend.ml.runtime import get_runtime
    from backend.services.catalog import is_empty, prepare_default_catalog
    from backend.services.importer import import_movielens

    settings = get_settings()
    migrate()
    with SessionLocal() as db:
        if is_empty(db):
            if args.movielens:
                stats = import_movielens(
                    db,
                    args.movielens,
                    metadata=args.metadata,
                    posters=args.posters or [],
                    posters_cache=settings.posters_dir,
                )
            else:
                stats = prepare_default_catalog(db, settings)
            print(f"imported {stats.summary()}")
        else:
            print("catalogue already in the database: nothing imported")
    runtime = get_runtime(settings)
    started = time.perf_counter()
    with SessionLocal() as db:
        report = EmbeddingRecommender(db, runtime)._build_movie_embeddings_index(
            max_movies=args.max_movies, progress=True
        )
    build_seconds = time.perf_counter() - started
    if not args.skip_training:
        from backend.jobs.runner import run_locked

        bundle = run_locked(runtime, runtime.train, wait_seconds=3600)
        print(
            f"models {bundle.version} trained on {bundle.meta['n_ratings']} ratings "
            f"(held-out SVD RMSE {bundle.meta.get('holdout_rmse') or float('nan'):.4f})"
        )
    with SessionLocal() as db:
        metrics = EmbeddingRecommender(db, runtime).get_embedding_quality_metrics()
    s = report.stats
    print("\n=== embedding setup summary ===")
    rows = [
        ("total movies", metrics["total_movies"]),
        ("movies indexed", metrics["movies_in_index"]),
        ("coverage", metrics["coverage"]),
        ("poster coverage", metrics["poster_coverage"]),
        ("text model", metrics["text_model"]),
        ("text dimension", metrics["text_dim"]),
        ("image model", metrics["image_model"]),
        ("image dimension", metrics["image_dim"]),
        ("image weights", metrics["image_status"]),
        ("device", metrics["device"]),
        (
            "encoded this run",
            f"{s.encoded_text} texts, {s.encoded_images} posters "
            f"({s.reused} reused, {s.dropped} dropped, "
            f"{s.failed_images} posters failed)",
        ),
        ("build time", f"{build_seconds:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
