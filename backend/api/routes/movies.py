from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import (
    CurrentAccount,
    CurrentUser,
    RuntimeDep,
    ServingDep,
    SessionDep,
    SettingsDep,
)
from backend.api.presenters import (
    movie_model,
    movie_out,
    recommendation_out,
    served_recommendations_json,
)
from backend.schemas.experiments import ServedRecommendation
from backend.schemas.movies import (
    MovieDetail,
    MovieOut,
    MoviePage,
    RatingIn,
    RatingOut,
    RecommendedMovie,
)
from backend.services import experiments as experiment_service
from backend.services import impressions as impression_service
from backend.services import movies as movie_service
from backend.services import onboarding as onboarding_service
from backend.services import ratings as rating_service
from backend.services import recommendations as recommendation_service
from backend.services.movies import MovieSort

router = APIRouter(prefix="/movies", tags=["movies"])

MAX_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL
MovieId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="movie id")]
NoNul = r"^[^\x00]*$"

PLACEHOLDER = Path(__file__).resolve().parent.parent.parent / "assets" / "placeholder.svg"


@router.get("", response_model=MoviePage)
def list_movies(
    db: SessionDep,
    _: CurrentUser,
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    q: Annotated[
        str | None, Query(max_length=200, pattern=NoNul, description="title search")
    ] = None,
    genre: Annotated[str | None, Query(max_length=64, pattern=NoNul)] = None,
    sort: MovieSort = "popularity",
) -> MoviePage:
    items, total = movie_service.list_movies(
        db, skip=skip, limit=limit, q=q, genre=genre, sort=sort
    )
    return MoviePage(items=[movie_model(m) for m in items], total=total, skip=skip, limit=limit)


@router.get("/genres", response_model=list[str])
def genres(db: SessionDep, _: CurrentUser) -> list[str]:
    return movie_service.list_genres(db)


@router.get("/onboarding", response_model=list[MovieOut])
def onboarding(
    db: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=60)] = 30,
    exclude: Annotated[
        list[int] | None,
        Query(max_length=500, description="movie ids already shown (e.g. marked unseen)"),
    ] = None,
) -> list[MovieOut]:
    """Well-known, varied movies for a new user to rate first (none they have rated)."""
    movies = onboarding_service.onboarding_movies(db, user.id, limit, exclude or ())
    return [movie_model(m) for m in movies]


@router.get("/recommendations", response_model=list[ServedRecommendation])
async def recommendations(
    db: SessionDep,
    caller: CurrentAccount,
    serving: ServingDep,
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="defaults to the caller")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    use_embeddings: Annotated[
        bool | None, Query(description="overrides the experiment variant; default true")
    ] = None,
) -> Response:
    """The list is recorded as an impression; its id is the X-Request-ID header and each
    item's `request_id` (send it with feedback events).

    A cache hit is answered on the event loop (a few indexed reads); only a miss, which ranks,
    goes to the thread pool, at most RANKING_CONCURRENCY at once, as does the periodic check
    for a new model or index (which may load one)."""
    runtime, cache = serving.runtime, serving.cache
    if runtime.reload_due():  # a retrain may have published: load it off the event loop
        await run_in_threadpool(runtime.maybe_reload)
    plan = experiment_service.plan_for(db, caller, user_id, use_embeddings)
    request = recommendation_service.ListRequest(caller, user_id, limit, plan.method)
    found = recommendation_service.lookup_cached(db, runtime, cache, request)
    body = found.body
    if body is None:
        async with serving.ranking_slots:
            body = await run_in_threadpool(
                recommendation_service.compute_answer,
                db,
                runtime,
                cache,
                found,
                served_recommendations_json,
            )
    request_id, body = impression_service.record_served(
        serving.impressions, runtime, caller.id, found.user_id, plan, body
    )
    return Response(
        content=body, media_type="application/json", headers={"X-Request-ID": request_id}
    )


@router.get("/{movie_id}", response_model=MovieDetail)
def get_movie(movie_id: MovieId, db: SessionDep, user: CurrentUser) -> MovieDetail:
    movie = movie_service.get_movie(db, movie_id)
    return MovieDetail(
        **movie_out(movie), my_rating=movie_service.user_rating_for(db, user.id, movie_id)
    )


@router.get("/{movie_id}/similar", response_model=list[RecommendedMovie])
def similar(
    movie_id: MovieId,
    db: SessionDep,
    _: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[RecommendedMovie]:
    recs = recommendation_service.similar(db, runtime, movie_id, limit)
    return [recommendation_out(r) for r in recs]


@router.get("/{movie_id}/poster", include_in_schema=True)
def poster(movie_id: MovieId, db: SessionDep, settings: SettingsDep) -> Response:
    """The cached poster image, or a neutral placeholder; public so <img> tags work."""
    path = movie_service.poster_file(db, movie_id, settings.posters_dir)
    headers = {"Cache-Control": "public, max-age=86400"}
    if path is None:
        return FileResponse(
            PLACEHOLDER,
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=3600"},
        )
    return FileResponse(path, headers=headers)


@router.put("/{movie_id}/rating", response_model=RatingOut)
def rate(
    movie_id: MovieId,
    payload: RatingIn,
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> RatingOut:
    rating = rating_service.upsert_rating(
        db, user.id, movie_id, payload.rating, attribution_hours=settings.attribution_window_hours
    )
    return RatingOut(movie_id=rating.movie_id, rating=rating.rating, timestamp=rating.timestamp)


@router.delete("/{movie_id}/rating", status_code=status.HTTP_204_NO_CONTENT)
def unrate(movie_id: MovieId, db: SessionDep, user: CurrentUser) -> Response:
    rating_service.delete_rating(db, user.id, movie_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
