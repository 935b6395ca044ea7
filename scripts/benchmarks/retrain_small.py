"""Full retrain on ml-latest-small as the service runs it: ratings read from the database,
every model and the blend fitted, the bundle published; time and peak memory of the process."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from scripts.benchmarks.common import ROOT, log, peak_rss_mb, save_section
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child()))
        return 0
    env = {**os.environ, **env_for(ensure())}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.benchmarks.retrain_small", "--child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    log(f"retrain ml-latest-small: {figures}")
    save_section("retrain_small", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
