"""Application factory. `uvicorn backend.main:app` serves the API and the web frontend.

Serving workers never train or build: they record job requests, and the worker process
(backend.jobs.worker) runs them and publishes new versions that every worker picks up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from backend import __version__
from backend.api.deps import Serving
from backend.api.errors import install_error_handlers
from backend.api.routes import admin, auth, embeddings, events, experiments, health, movies, users
from backend.config import Settings, get_settings
from backend.database import SessionLocal
from backend.observability import REGISTRY, RuntimeCollector
from backend.server.docs import install_docs
from backend.server.limits import EdgeMiddleware
from backend.services.cache import make_cache
from backend.services.embeddings import index_status
from backend.services.impressions import ImpressionRecorder
from backend.services.rate_limit import make_rate_limiter
from backend.services.recommender_runtime import RecommenderRuntime, get_runtime

log = logging.getLogger(__name__)


def _status_for_metrics(runtime: RecommenderRuntime):  # noqa: ANN202
    def status() -> dict:
        with SessionLocal() as db:
            return index_status(db, runtime)

    return status


def create_app(
    settings: Settings | None = None, runtime: RecommenderRuntime | None = None
) -> FastAPI:
    settings = settings or get_settings()
    settings.check_secure()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        blas_limit = (
            threadpool_limits(limits=settings.serving_blas_threads)
            if settings.serving_blas_threads > 0
            else None
        )
        rt = runtime or get_runtime(settings)
        # The one place the serving state lives (RuntimeDep and ServingDep read it).
        app.state.serving = serving = Serving(
            runtime=rt,
            cache=make_cache(settings),
            impressions=ImpressionRecorder(
                SessionLocal,
                flush_seconds=settings.impression_flush_seconds,
                batch_size=settings.impression_batch_size,
                max_queue=settings.impression_queue_max,
            ),
            # Created on the serving event loop: the misses it admits wait on that loop.
            ranking_slots=asyncio.Semaphore(settings.ranking_concurrency),
        )
        serving.impressions.start()
        collector = RuntimeCollector(rt, _status_for_metrics(rt))
        REGISTRY.register(collector)
        try:
            yield
        finally:
            REGISTRY.unregister(collector)
            serving.impressions.close()
            if blas_limit is not None:
                blas_limit.restore_original_limits()

    app = FastAPI(
        title="Movie Recommender",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served from local files by install_docs (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rate_limiter = make_rate_limiter(settings.redis_url, SessionLocal)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )

    app.add_middleware(EdgeMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    install_docs(app)
    for router in (
        auth.router,
        movies.router,
        users.router,
        embeddings.router,
        events.router,
        admin.router,
        experiments.router,
        health.router,
    ):
        app.include_router(router)

    static_dir = settings.static_dir
    if static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=static_dir), name="static")

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(static_dir / "index.html")

    return app


def __getattr__(name: str):  # noqa: ANN202
    """`backend.main:app` is built on first access, so importing the module has no side effects."""
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
