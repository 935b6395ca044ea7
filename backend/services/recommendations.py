"""Who may see which recommendations, and the call into the recommender."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from backend.ml.recommender import Method, MovieRecommender, Recommendation
from backend.models import User
from backend.observability import RECOMMENDATION_LATENCY
from backend.services.cache import RecommendationCache
from backend.services.errors import ForbiddenError
from backend.services.movies import get_movie
from backend.services.ratings import stored_ratings_fingerprint
from backend.services.recommender_runtime import RecommenderRuntime
from backend.services.users import get_user


def for_user(
    db: Session,
    runtime: RecommenderRuntime,
    caller: User,
    user_id: int | None,
    limit: int,
    use_embeddings: bool,
    method: Method | None = None,
) -> list[Recommendation]:
    target = _authorised_target(db, caller, user_id)
    method = method or ("hybrid" if use_embeddings else "hybrid_no_embeddings")
    return _recommend(db, runtime, target, limit, method)


def _recommend(
    db: Session, runtime: RecommenderRuntime, user_id: int, limit: int, method: Method
) -> list[Recommendation]:
    started = time.perf_counter()
    recs = MovieRecommender(db, runtime).recommend(user_id, limit, method)
    RECOMMENDATION_LATENCY.labels(method=method).observe(time.perf_counter() - started)
    return recs


def _authorised_target(db: Session, caller: User, user_id: int | None) -> int:
    target = caller.id if user_id is None else user_id
    if target != caller.id and not caller.is_admin:
        raise ForbiddenError("You may only see your own recommendations")
    if target != caller.id:
        get_user(db, target)
    return target


def for_user_cached(
    db: Session,
    runtime: RecommenderRuntime,
    cache: RecommendationCache,
    caller: User,
    user_id: int | None,
    limit: int,
    use_embeddings: bool,
    render: Callable[[list[Recommendation]], bytes],
    method: Method | None = None,
) -> bytes:
    """`for_user` rendered to bytes, from the cache when every input of the answer is unchanged.

    Fallback answers (no model yet, index still building) are never kept: they are temporary.
    """
    target = _authorised_target(db, caller, user_id)
    method = method or ("hybrid" if use_embeddings else "hybrid_no_embeddings")
    key = _cache_key(db, runtime, cache, target, limit, method)
    cached = cache.lookup(key)
    if cached is not None:
        return cached
    recs = _recommend(db, runtime, target, limit, method)
    body = render(recs)
    if key is not None and not any(r.fallback for r in recs):
        cache.store(key, body)
    return body


def _cache_key(
    db: Session,
    runtime: RecommenderRuntime,
    cache: RecommendationCache,
    user_id: int,
    limit: int,
    method: str,
) -> str | None:
    runtime.maybe_reload()
    bundle, index = runtime.bundle, runtime.index
    version = cache.ratings_version(user_id)
    if bundle is None or version is None:
        return None
    catalogue = runtime.catalogue(db).version
    if cache.process_local:
        version = f"{version}.{stored_ratings_fingerprint(db, user_id)}"
    return (
        f"recs:{user_id}:r{version}:{limit}:{method}:{bundle.version}:"
        f"{index.version if index is not None else '-'}:{catalogue}"
    )


def similar(
    db: Session, runtime: RecommenderRuntime, movie_id: int, limit: int
) -> list[Recommendation]:
    get_movie(db, movie_id)
    started = time.perf_counter()
    recs = MovieRecommender(db, runtime).similar_movies(movie_id, limit)
    RECOMMENDATION_LATENCY.labels(method="similar").observe(time.perf_counter() - started)
    return recs
