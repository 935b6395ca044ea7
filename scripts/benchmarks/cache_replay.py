"""Cache hit rate in a steady replay of real traffic: ratings arriving among reads.

The last `--writes` ratings of ml-latest-small (by timestamp) are taken out of a copy of the
benchmark catalogue and replayed in their real order through the ratings service; between two
ratings, `--reads-per-write` recommendation reads arrive from users drawn in proportion to how
much they rate (active users read more). Reads go through the service call the HTTP route makes,
with the in-process cache; after one warm-up pass over every user, hits and misses are counted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from scripts.benchmarks.common import log, save_section, stats_ms
from scripts.benchmarks.dataset import env_for, working_copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--reads-per-write", type=int, default=30)
    args = parser.parse_args(argv)
    home = working_copy(Path(tempfile.gettempdir()) / "movierec-replay")
    os.environ.update(env_for(home))
    from sqlalchemy import delete, select

    from backend.api.presenters import served_recommendations_json
    from backend.config import get_settings
    from backend.database import SessionLocal
    from backend.models import Rating, User
    from backend.services import ratings as rating_service
    from backend.services.cache import LocalCache
    from backend.services.recommendations import ListRequest, for_user_cached
    from backend.services.recommender_runtime import get_runtime

    settings = get_settings()
    cache = LocalCache(settings.recommendation_cache_ttl_seconds, 100_000)
    rng = np.random.default_rng(0)
    with SessionLocal() as db:
        last = db.execute(
            select(Rating.id, Rating.user_id, Rating.movie_id, Rating.rating)
            .order_by(Rating.timestamp.desc(), Rating.id.desc())
            .limit(args.writes)
        ).all()[::-1]
        db.execute(delete(Rating).where(Rating.id.in_([row[0] for row in last])))
        db.commit()
        runtime = get_runtime()
        admin = db.scalars(select(User).where(User.is_admin.is_(True))).first()
        users = np.array(
            db.scalars(select(User.id).where(User.movielens_user_id.is_not(None))).all()
        )
        counts = np.array(
            [db.query(Rating).filter(Rating.user_id == int(u)).count() for u in users], float
        )

        def read(user: int) -> tuple[bool, float]:
            hits = cache.hits
            started = time.perf_counter()
            for_user_cached(
                db,
                runtime,
                cache,
                ListRequest(admin, user, 10, "hybrid"),
                served_recommendations_json,
            )
            return cache.hits > hits, time.perf_counter() - started

        for user in users:  # warm-up: every user's list once
            read(int(user))
        cache.hits = cache.misses = 0
        hit_times, miss_times = [], []
        for _, user_id, movie_id, value in last:
            rating_service.upsert_rating(db, user_id, movie_id, value)
            for user in rng.choice(users, size=args.reads_per_write, p=counts / counts.sum()):
                hit, seconds = read(int(user))
                (hit_times if hit else miss_times).append(seconds)
    figures = {
        "writes": len(last),
        "reads": len(hit_times) + len(miss_times),
        "hit_rate": round(cache.hit_rate, 4),
        "hit_latency": stats_ms(hit_times),
        "miss_latency": stats_ms(miss_times),
    }
    log(f"cache replay: {figures}")
    save_section("cache_replay", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
