"""Cache-miss latency in process, through the public Python API and the API's service layer.

Every MovieLens user once after a warm-up pass: `MovieRecommender(db).get_hybrid_recommendations`
(the seed's facade, which pins BLAS threads like the API does), and the service call the HTTP
route makes on a cache miss (`recommendations.lookup_cached`, a miss, then `compute_answer`: the
ranking, the movies from the in-memory catalogue table and the JSON body). Each mode runs
in a fresh process: BLAS pinned (SERVING_BLAS_THREADS=1, the default) and unpinned (=0). A
cProfile pass shows where a miss spends its time.
"""

from __future__ import annotations

import cProfile
import pstats
import time

from scripts.benchmarks.common import child_mode, log, measure_in_child, save_section, stats_ms
from scripts.benchmarks.dataset import ensure, env_for

K = 10


def _users(db) -> list[int]:  # noqa: ANN001
    from sqlalchemy import select

    from backend.models import User

    return list(db.scalars(select(User.id).where(User.movielens_user_id.is_not(None))))


def _profile(fn, users: list[int]) -> list[dict]:  # noqa: ANN001
    """Our own functions by cumulative time per call (the top 15)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for user in users:
        fn(user)
    profiler.disable()
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    for (filename, _line, name), (_cc, _nc, _own, cumulative, _callers) in table.items():
        if "/backend/" in filename or "sqlalchemy/orm/loading" in filename:
            where = filename.split("/backend/")[-1] if "/backend/" in filename else "sqlalchemy"
            rows.append({"function": f"{where}:{name}", "ms_per_call": cumulative / len(users)})
    rows.sort(key=lambda r: -r["ms_per_call"])
    return [{**r, "ms_per_call": round(r["ms_per_call"] * 1000, 3)} for r in rows[:15]]


def child() -> dict:
    from backend.api.presenters import served_recommendations_json
    from backend.database import SessionLocal
    from backend.ml.recommender import MovieRecommender
    from backend.models import User
    from backend.services import recommendations as service
    from backend.services.cache import DisabledCache

    out: dict = {}
    with SessionLocal() as db:
        users = _users(db)
        admin = db.query(User).filter(User.is_admin.is_(True)).first()
        facade = MovieRecommender(db)
        runtime = facade.runtime

        def public(user: int) -> None:
            facade.get_hybrid_recommendations(user, K)

        never = DisabledCache()

        def service_miss(user: int) -> None:
            request = service.ListRequest(admin, user, K, "hybrid")
            found = service.lookup_cached(db, runtime, never, request)
            service.compute_answer(db, runtime, never, found, served_recommendations_json)

        for name, fn in (("public_api", public), ("service_miss", service_miss)):
            for user in users:  # warm-up pass
                fn(user)
            times = []
            for user in users:
                started = time.perf_counter()
                fn(user)
                times.append(time.perf_counter() - started)
            out[name] = stats_ms(times)
        out["profile_service_miss"] = _profile(service_miss, users[:200])
        out["users"] = len(users)
    return out


def main(argv: list[str] | None = None) -> int:
    if child_mode(argv, __doc__, child):
        return 0
    home = ensure()
    figures: dict = {}
    for mode, threads in (("blas_pinned", "1"), ("blas_default", "0")):
        env = env_for(home, serving_blas_threads=threads)
        measured = measure_in_child("scripts.benchmarks.in_process", env)
        if measured is None:
            return 1
        figures[mode] = measured
        log(f"in process, {mode}: public {figures[mode]['public_api']}")
        save_section("in_process", figures)  # each mode as soon as it is measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
