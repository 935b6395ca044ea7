"""Full retrain on ml-latest-small as the service runs it: ratings read from the database,
every model and the blend fitted, the bundle published; time and peak memory of the process."""

from __future__ import annotations

import time

from scripts.benchmarks.common import child_mode, log, measure_in_child, peak_rss_mb, save_section
from scripts.benchmarks.dataset import ensure, env_for


def child() -> dict:
    from backend.database import SessionLocal
    from backend.services.recommender_runtime import get_runtime

    runtime = get_runtime()
    started = time.perf_counter()
    with SessionLocal() as db:
        model = runtime.train(db)
    return {
        "train_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": peak_rss_mb(),
        "ratings": model.meta.get("n_ratings"),
        "users": model.meta.get("n_users"),
        "movies": model.meta.get("n_items"),
        "holdout_rmse": model.meta.get("holdout_rmse"),
    }


def main(argv: list[str] | None = None) -> int:
    if child_mode(argv, __doc__, child):
        return 0
    figures = measure_in_child("scripts.benchmarks.retrain_small", env_for(ensure()))
    if figures is None:
        return 1
    log(f"retrain ml-latest-small: {figures}")
    save_section("retrain_small", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
