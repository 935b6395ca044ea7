"""Recommendations for people: who may see which list, the cache, and the ranking itself.

A request reads the user's ratings, asks the runtime for the current `HybridRecommender` (bound
to the catalogue and index), ranks with it and turns rows into movies with a truthful reason and
the served rating prediction. The seed facade `backend.ml.recommender.MovieRecommender` calls
`recommend` and `similar_movies` here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session

from backend.ml.base import UserHistory
from backend.ml.blender import mmr_rerank
from backend.ml.content import cosine_scores
from backend.ml.hybrid import Explanation, HybridRecommender
from backend.ml.scoring import top_n
from backend.models import Movie, User
from backend.observability import RECOMMENDATION_LATENCY
from backend.services import model_data
from backend.services.cache import RecommendationCache, answer_fingerprint
from backend.services.errors import ForbiddenError
from backend.services.model_data import MovieRow
from backend.services.movies import get_movie
from backend.services.recommender_runtime import RecommenderRuntime
from backend.services.users import Account, require_account

log = logging.getLogger(__name__)

Method = Literal["svd", "hybrid", "hybrid_no_embeddings", "content", "popularity"]
COLD_USER_DIVERSITY = 0.3
POPULAR_REASON = "Popular with viewers: highly rated by many people"
# The hybrid's popularity signals count votes (here and on TMDB), not how high they are.
WIDELY_WATCHED = "Popular with viewers: widely watched"


@dataclass
class Recommendation:
    movie: Movie | MovieRow
    score: float
    reason: str
    method: str
    fallback: bool = False
    predicted_rating: float | None = None


# ---------------------------------------------------------------- access and cache (the API)
Caller = User | Account


@dataclass(frozen=True)
class ListRequest:
    """One list asked for: by whom, for which user (None: the caller), how long, how ranked."""

    caller: Caller
    user_id: int | None
    limit: int
    method: Method


@dataclass(frozen=True)
class CachedAnswer:
    """A cache lookup: whose list, under which key (None: not cacheable), and the stored body."""

    request: ListRequest
    user_id: int
    key: str | None
    body: bytes | None


def for_user(
    db: Session, runtime: RecommenderRuntime, request: ListRequest
) -> list[Recommendation]:
    target = authorised_target(db, request.caller, request.user_id)
    return _timed_recommend(db, runtime, target.id, request.limit, request.method)


def for_user_cached(
    db: Session,
    runtime: RecommenderRuntime,
    cache: RecommendationCache,
    request: ListRequest,
    render: Callable[[list[Recommendation]], bytes],
) -> bytes:
    """`for_user` rendered to bytes, from the cache when every input of the answer is unchanged."""
    found = lookup_cached(db, runtime, cache, request)
    if found.body is not None:
        return found.body
    return compute_answer(db, runtime, cache, found, render)


def lookup_cached(
    db: Session, runtime: RecommenderRuntime, cache: RecommendationCache, request: ListRequest
) -> CachedAnswer:
    """Authorise and look the answer up: a few indexed reads, no ranking (the API runs it on
    the event loop and only a miss goes to `compute_answer` in the thread pool). The route looks
    for a new model or index in the thread pool first, so the reload check here finds nothing
    due there; a new catalogue (once per import) is still read here."""
    target = authorised_target(db, request.caller, request.user_id)
    key = _cache_key(db, runtime, target, request.limit, request.method)
    return CachedAnswer(request, target.id, key, cache.lookup(key))


def compute_answer(
    db: Session,
    runtime: RecommenderRuntime,
    cache: RecommendationCache,
    found: CachedAnswer,
    render: Callable[[list[Recommendation]], bytes],
) -> bytes:
    """A cache miss: rank, render and keep the body. Fallback answers (no model yet, index
    still building) are never kept: they are temporary."""
    request = found.request
    recs = _timed_recommend(
        db, runtime, found.user_id, request.limit, request.method, plain_rows=True
    )
    body = render(recs)
    if found.key is not None and not any(r.fallback for r in recs):
        cache.store(found.key, body)
    return body


def similar(
    db: Session, runtime: RecommenderRuntime, movie_id: int, limit: int
) -> list[Recommendation]:
    get_movie(db, movie_id)
    started = time.perf_counter()
    recs = similar_movies(db, runtime, movie_id, limit)
    RECOMMENDATION_LATENCY.labels(method="similar").observe(time.perf_counter() - started)
    return recs


def authorised_target(db: Session, caller: Caller, user_id: int | None) -> Account:
    """The account whose list is asked for: the caller's own, or anyone's for an admin.

    Read fresh unless the caller is an `Account` read in this request: its ratings version keys
    the cache."""
    target = caller.id if user_id is None else user_id
    if target != caller.id and not caller.is_admin:
        raise ForbiddenError("You may only see your own recommendations")
    if isinstance(caller, Account) and target == caller.id:
        return caller
    return require_account(db, target)


def _timed_recommend(
    db: Session,
    runtime: RecommenderRuntime,
    user_id: int,
    limit: int,
    method: Method,
    *,
    plain_rows: bool = False,
) -> list[Recommendation]:
    started = time.perf_counter()
    recs = recommend(db, runtime, user_id, limit, method, plain_rows=plain_rows)
    RECOMMENDATION_LATENCY.labels(method=method).observe(time.perf_counter() - started)
    return recs


def _cache_key(
    db: Session, runtime: RecommenderRuntime, target: Account, limit: int, method: str
) -> str | None:
    runtime.maybe_reload()
    bundle, index = runtime.bundle, runtime.index
    if bundle is None:
        return None
    catalogue = runtime.catalogue(db).version
    return (
        f"recs:{target.id}:r{target.ratings_version}:{limit}:{method}:{bundle.version}:"
        f"{index.version if index is not None else '-'}:{catalogue}:"
        f"{answer_fingerprint(runtime.settings)}"
    )


# ---------------------------------------------------------------- ranking
def recommend(
    db: Session,
    runtime: RecommenderRuntime,
    user_id: int,
    n: int = 10,
    method: Method = "hybrid",
    *,
    plain_rows: bool = False,
) -> list[Recommendation]:
    """The user's top n by `method`, best first (popularity when no model is trained yet).

    Movies are ORM objects (the Python API's contract), or with `plain_rows` `MovieRow`s from
    the in-memory catalogue table (what the API renders: the same fields, no query)."""
    rated, ratings = model_data.user_ratings(db, user_id)
    hybrid = runtime.context(db)
    if hybrid is None:
        log.info("no trained model yet: %s falls back to the popularity prior", method)
        return _popularity(db, runtime, None, rated, n, True, method, plain_rows)
    user = hybrid.user(user_id, rated, ratings)
    use_content = method in ("hybrid", "content")
    fallback = use_content and not hybrid.has_text
    if fallback:
        log.info("embedding index not ready: %s recommendations use the baseline", method)
    if method == "popularity" or len(rated) == 0:
        return _popularity(db, runtime, hybrid, rated, n, fallback, method, plain_rows)
    if method == "svd":
        picks = hybrid.model("svd").rank(user, n, exclude=np.flatnonzero(hybrid.is_cold))
        reasons = [Explanation("taste")] * len(picks)
        scores = hybrid.model("svd").score(user)
    elif method == "content" and not fallback:
        model = hybrid.model("content_text")
        scores = model.score(user)
        picks = model.rank(user, n)
        reasons = [Explanation("content", j) for j in model.nearest_liked(user, picks)]
    else:
        ranking = hybrid.ranked(
            user, n, use_content=use_content, diversity=runtime.settings.diversity_lambda
        )
        picks, scores = ranking.rows, ranking.scores
        reasons = hybrid.explain(user, picks, use_content, ranking.features, ranking.rated_text)
    movies = _movie_loader(db, hybrid.catalogue.version, plain_rows)
    titles = partial(model_data.movie_rows, db, hybrid.catalogue.version)
    return _movies(movies, titles, hybrid, user, picks, scores, reasons, method, fallback)


def _popularity(
    db: Session,
    runtime: RecommenderRuntime,
    hybrid: HybridRecommender | None,
    rated: np.ndarray,
    n: int,
    fallback: bool,
    method: str,
    plain_rows: bool,
) -> list[Recommendation]:
    """Bayesian-average prior over the ratings table: trusts movies with many votes.

    With a trained `hybrid` (a cold user, or the popularity method) the list is varied by story.
    """
    catalogue = runtime.catalogue(db)
    varied = hybrid is not None
    scores = runtime.popularity_prior(db, catalogue)
    picks = top_n(scores, n * 5 if varied else n, catalogue.positions(rated))
    if varied and hybrid.has_text and len(picks) > n:
        picks = mmr_rerank(picks, scores[picks], hybrid.content.text[picks], n, COLD_USER_DIVERSITY)
    picks = picks[:n]
    movies = _movie_loader(db, catalogue.version, plain_rows)(catalogue.item_ids[picks].tolist())
    by_id = {m.id: m for m in movies}
    out = []
    for p in picks:
        movie = by_id.get(int(catalogue.item_ids[p]))
        if movie is not None:
            out.append(Recommendation(movie, float(scores[p]), POPULAR_REASON, method, fallback))
    return out


# ---------------------------------------------------------------- reasons and movies
def _movie_loader(
    db: Session, catalogue_version: str, plain_rows: bool
) -> Callable[[list[int]], list[Movie] | list[MovieRow]]:
    if plain_rows:
        return partial(model_data.movie_rows, db, catalogue_version)
    return partial(model_data.movies_by_ids, db)


def _movies(
    load: Callable[[list[int]], list[Movie] | list[MovieRow]],
    titles: Callable[[list[int]], list[MovieRow]],
    hybrid: HybridRecommender,
    user: UserHistory,
    picks: np.ndarray,
    scores: np.ndarray,
    reasons: list[Explanation],
    method: str,
    fallback: bool = False,
) -> list[Recommendation]:
    """Movies, reasons and predicted stars for the picks; the movies loaded at once, the
    movies a reason names from the in-memory catalogue table (only their titles are shown)."""
    ids = hybrid.catalogue.item_ids[picks].tolist()
    named = sorted({int(user.item_ids[r.source]) for r in reasons if r.source >= 0})
    by_id = {m.id: m for m in load(ids)}
    named_by_id = {m.id: m for m in titles(named)}
    stars = hybrid.predicted_ratings(user, picks)
    out = []
    for k, (movie_id, p) in enumerate(zip(ids, picks, strict=True)):
        if movie_id not in by_id:
            continue
        reason = _reason(reasons[k], user, named_by_id)
        predicted = None if np.isnan(stars[k]) else round(float(stars[k]), 1)
        out.append(
            Recommendation(by_id[movie_id], float(scores[p]), reason, method, fallback, predicted)
        )
    return out


def _reason(why: Explanation, user: UserHistory, movies: dict[int, Movie | MovieRow]) -> str:
    title = None
    if why.source >= 0:
        movie = movies.get(int(user.item_ids[why.source]))
        title = movie.title if movie else "a movie you rated"
    if why.kind == "collaborative" and title:
        rating = user.ratings[why.source]
        stars = f"{rating:g} star" + ("" if rating == 1 else "s")
        # The evidence is co-watching (EASE), not likeness: say so.
        return f"Often watched by viewers of {title} (you rated it {stars})"
    if why.kind == "content" and title:
        return f"Similar story to {title}"
    if why.kind == "new":
        return (
            f"New in the catalogue, similar story to {title}" if title else "New in the catalogue"
        )
    if why.kind == "trending":
        return "Trending: many viewers rated it recently"
    if why.kind == "taste":
        return "Viewers with taste like yours rate it highly"
    return WIDELY_WATCHED


# ---------------------------------------------------------------- similar movies
def similar_movies(
    db: Session, runtime: RecommenderRuntime, movie_id: int, n: int = 10
) -> list[Recommendation]:
    hybrid = runtime.context(db)
    catalogue = runtime.catalogue(db)
    content = hybrid.content if hybrid is not None else runtime.content_for(catalogue)
    pos = int(catalogue.positions(np.array([movie_id]))[0])
    if content is None or pos < 0 or not content.has_text[pos]:
        return []
    s = runtime.settings
    ann = runtime.neighbour_index(content) if content.image is None else None
    if ann is not None:
        rows, sims = ann.search(content.text[pos], n + 1)
        keep = rows != pos
        picks, picked_scores = rows[keep][:n], s.text_weight * sims[keep][:n]
    else:
        scores = s.text_weight * cosine_scores(content.text, content.text[pos])
        if content.image is not None and content.has_image[pos]:
            scores = scores + s.image_weight * cosine_scores(content.image, content.image[pos])
        scores = np.where(content.has_text, scores, -np.inf)
        picks = top_n(scores, n, np.array([pos]))
        picked_scores = scores[picks]
    ids = catalogue.item_ids[picks].tolist()
    by_id = {m.id: m for m in model_data.movies_by_ids(db, ids)}
    source = by_id.get(movie_id) or db.get(Movie, movie_id)
    title = source.title if source else "this movie"
    return [
        Recommendation(by_id[i], float(score), f"Similar in story and genre to {title}", "content")
        for i, score in zip(ids, picked_scores, strict=True)
        if i in by_id
    ]
