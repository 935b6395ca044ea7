"""Who may see which recommendations, and the call into the recommender."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from backend.ml.recommender import MovieRecommender, Recommendation
from backend.models import User
from backend.observability import RECOMMENDATION_LATENCY
from backend.services.errors import ForbiddenError
from backend.services.movies import get_movie
from backend.services.recommender_runtime import RecommenderRuntime
from backend.services.users import get_user


def for_user(
    db: Session,
    runtime: RecommenderRuntime,
    caller: User,
    user_id: int | None,
    limit: int,
    use_embeddings: bool,
) -> list[Recommendation]:
    target = caller.id if user_id is None else user_id
    if target != caller.id and not caller.is_admin:
        raise ForbiddenError("You may only see your own recommendations")
    if target != caller.id:
        get_user(db, target)
    method = "hybrid" if use_embeddings else "hybrid_no_embeddings"
    started = time.perf_counter()
    recs = MovieRecommender(db, runtime).recommend(target, limit, method)
    RECOMMENDATION_LATENCY.labels(method=method).observe(time.perf_counter() - started)
    return recs


def similar(
    db: Session, runtime: RecommenderRuntime, movie_id: int, limit: int
) -> list[Recommendation]:
    get_movie(db, movie_id)
    started = time.perf_counter()
    recs = MovieRecommender(db, runtime).similar_movies(movie_id, limit)
    RECOMMENDATION_LATENCY.labels(method="similar").observe(time.perf_counter() - started)
    return recs
