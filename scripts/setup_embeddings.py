#!/usr/bin/env python
"""Prepare everything in one command: migrate, import the catalogue if the database is empty,
build the embedding index and train the models, then print what is ready.

    .venv/bin/python scripts/setup_embeddings.py [--movielens DIR --metadata CSV --posters DIR ...]

Each step is announced with its duration, the index build shows bars with real counts (stderr),
and the last line is a one-line summary.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--movielens",
        type=Path,
        metavar="DIR",
        help="MovieLens directory to import when the database is empty (default: the "
        "CATALOG_* settings, ../shared/data, or a checked download)",
    )
    parser.add_argument(
        "--metadata", type=Path, metavar="CSV", help="TMDB-style metadata CSV for --movielens"
    )
    parser.add_argument(
        "--posters",
        type=Path,
        action="append",
        metavar="DIR",
        help="poster directory for --movielens (repeatable)",
    )
    parser.add_argument("--max-movies", type=int, metavar="N", help="index only the first N movies")
    parser.add_argument(
        "--skip-training", action="store_true", help="build the index but do not train models"
    )
    args = parser.parse_args(argv)
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001 - one clear line, non-zero exit
        from backend.cli import one_line

        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    from backend.cli import migrate, step
    from backend.config import get_settings
    from backend.database import SessionLocal
    from backend.jobs.runner import run_locked
    from backend.ml.embedding_recommender import EmbeddingRecommender
    from backend.services.catalog import is_empty, prepare_default_catalog
    from backend.services.importer import import_movielens
    from backend.services.recommender_runtime import get_runtime

    started = time.perf_counter()
    settings = get_settings()
    steps = 3 if args.skip_training else 4
    with step("migrating the database", f"1/{steps}"):
        migrate()
    with step("checking the catalogue", f"2/{steps}"), SessionLocal() as db:
        if not is_empty(db):
            print("catalogue already in the database: nothing imported")
        elif args.movielens:
            stats = import_movielens(
                db,
                args.movielens,
                metadata=args.metadata,
                posters=args.posters or [],
                posters_cache=settings.posters_dir,
            )
            print(f"imported {stats.summary()}")
        else:
            print(f"imported {prepare_default_catalog(db, settings).summary()}")
    runtime = get_runtime(settings)
    index_step = "building the embedding index (loads the text model, then encodes new movies)"
    with step(index_step, f"3/{steps}"), SessionLocal() as db:
        report = EmbeddingRecommender(db, runtime)._build_movie_embeddings_index(
            max_movies=args.max_movies, progress=True
        )
    trained = "models not trained (--skip-training)"
    if not args.skip_training:
        train_step = "training SVD, item model and blend (1-2 min on ml-latest-small)"
        with step(train_step, f"4/{steps}"):
            bundle = run_locked(runtime, runtime.train, wait_seconds=3600)
        rmse = bundle.meta.get("holdout_rmse")
        trained = f"models {bundle.version} on {bundle.meta['n_ratings']} ratings" + (
            f" (held-out SVD RMSE {rmse:.4f})" if rmse else ""
        )
    with SessionLocal() as db:
        metrics = EmbeddingRecommender(db, runtime).get_embedding_quality_metrics()
    print_details(metrics, report.stats)
    posters = (
        "posters used"
        if metrics["image_used_for_scoring"]
        else "posters not used (no pretrained ResNet50 weights)"
    )
    print(
        f"ready in {time.perf_counter() - started:.0f} s: {metrics['movies_in_index']} of "
        f"{metrics['total_movies']} movies text-embedded ({metrics['coverage']}), {posters}; "
        f"{trained}"
    )
    return 0


def print_details(metrics: dict, stats) -> None:
    rows = [
        ("text model", f"{metrics['text_model']} ({metrics['text_dim']} dimensions)"),
        ("image model", f"{metrics['image_model']} ({metrics['image_dim']} dimensions)"),
        ("poster embeddings", metrics["image_status"]),
        ("posters embedded", f"{metrics['posters_embedded']} ({metrics['poster_coverage']})"),
        ("device", metrics["device"]),
        (
            "encoded this run",
            f"{stats.encoded_text} texts, {stats.encoded_images} posters "
            f"({stats.reused} reused, {stats.dropped} dropped, "
            f"{stats.failed_images} posters failed)",
        ),
    ]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
