"""What recording an impression adds to a recommendations request, measured in process.

Times, on the configured database and trained models (DATA_DIR / DATABASE_URL), the two steps
the route adds around the recommender (choosing the experiment variant, and stamping the request
id and queueing the impression) against the whole request through the ASGI app, with and without
a cache hit, and the background writer's cost per impression. Prints JSON.

    DATA_DIR=data DATABASE_URL=sqlite:///data/app.db python scripts/measure_impression_overhead.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.presenters import served_recommendations_json
from backend.config import get_settings
from backend.database import SessionLocal
from backend.main import create_app
from backend.ml.recommender import MovieRecommender
from backend.models import User
from backend.security import create_access_token
from backend.services import experiments as experiment_service
from backend.services.impressions import ImpressionRecorder, record_served
from backend.services.recommender_runtime import get_runtime


def _median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--username", default=None, help="a user with ratings (default: any)")
    args = parser.parse_args(argv)
    settings = get_settings().model_copy(update={"scheduler_enabled": False})
    runtime = get_runtime(settings)
    runtime.load_from_disk()
    with SessionLocal() as db:
        query = select(User).where(User.movielens_user_id.is_not(None))
        if args.username:
            query = select(User).where(User.username == args.username)
        user = db.scalars(query.limit(1)).first()
        if user is None or runtime.bundle is None:
            print("error: needs a trained model and an imported catalogue", file=sys.stderr)
            return 1
        user.can_login = True
        db.commit()
        recs = MovieRecommender(db, runtime).recommend(user.id, 10, "hybrid")
        body = served_recommendations_json(recs)
        plan = experiment_service.plan_for(db, user, None, None)
        recorder = ImpressionRecorder(SessionLocal, flush_seconds=3600)
        figures = {
            "plan_for_us": _median_us(
                lambda: experiment_service.plan_for(db, user, None, None), args.repeat
            ),
            "record_served_us": _median_us(
                lambda: record_served(recorder, runtime, user.id, user.id, plan, body),
                args.repeat,
            ),
        }
        queued = recorder.pending
        started = time.perf_counter()
        recorder.flush()
        figures["writer_us_per_impression"] = round(
            (time.perf_counter() - started) / max(queued, 1) * 1e6, 1
        )
    token = create_access_token(user.id, settings.secret_key, 60, user.token_version)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, runtime=runtime)) as client:
        cache = client.app.state.serving.cache
        url = "/movies/recommendations?limit=10"
        client.get(url, headers=headers)
        figures["request_cached_us"] = _median_us(
            lambda: client.get(url, headers=headers), args.repeat
        )

        def uncached() -> None:
            cache.clear()
            client.get(url, headers=headers)

        figures["request_uncached_us"] = _median_us(uncached, max(args.repeat // 5, 20))
    added = figures["plan_for_us"] + figures["record_served_us"]
    figures["added_share_of_cached_request"] = round(added / figures["request_cached_us"], 3)
    figures["added_share_of_uncached_request"] = round(added / figures["request_uncached_us"], 3)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
