"""Job functions: safe to call from the scheduler, an admin request, a script or a test."""

from __future__ import annotations

import logging

from backend.database import SessionLocal
from backend.jobs.locks import JobBusy, job_lock
from backend.services.recommender_runtime import RecommenderRuntime, get_runtime

log = logging.getLogger(__name__)


def rebuild_index_job(
    runtime: RecommenderRuntime | None = None,
    session_factory=SessionLocal,
    max_movies: int | None = None,
    wait_seconds: float = 0.0,
) -> str | None:
    """Incrementally rebuild the embedding index; returns the version, None when skipped."""
    runtime = runtime or get_runtime()
    try:
        with (
            job_lock(runtime.settings.locks_dir, wait_seconds=wait_seconds),
            session_factory() as db,
        ):
            return runtime.build_index(db, max_movies=max_movies).version
    except JobBusy as exc:
        log.info("index rebuild skipped: %s", exc)
        return None
    except Exception:
        log.exception("index rebuild failed")
        return None


def retrain_models_job(
    runtime: RecommenderRuntime | None = None,
    session_factory=SessionLocal,
    wait_seconds: float = 0.0,
) -> str | None:
    """Retrain SVD, item model and blend weights; the new bundle is swapped in atomically."""
    runtime = runtime or get_runtime()
    try:
        with (
            job_lock(runtime.settings.locks_dir, wait_seconds=wait_seconds),
            session_factory() as db,
        ):
            return runtime.train(db).version
    except JobBusy as exc:
        log.info("retraining skipped: %s", exc)
        return None
    except Exception:
        log.exception("retraining failed")
        return None


def startup_job(runtime: RecommenderRuntime | None = None, session_factory=SessionLocal) -> None:
    """What a fresh service needs: models and an index, each built only when absent.

    Models come first (the baseline is then served within seconds), the index second, and the
    blend is relearned once the index exists so its content weights are learned, not defaults.
    Another process may be doing the same; it holds the lock and we pick up what it publishes.
    """
    runtime = runtime or get_runtime()
    settings = runtime.settings
    runtime.load_from_disk()
    if settings.train_on_startup and runtime.bundle is None:
        retrain_models_job(runtime, session_factory)
    if settings.build_index_on_startup and runtime.index is None:
        rebuild_index_job(runtime, session_factory)
    runtime.load_from_disk()
    bundle, index = runtime.bundle, runtime.index
    if (
        settings.train_on_startup
        and bundle is not None
        and index is not None
        and not bundle.meta.get("content_version")
    ):
        retrain_models_job(runtime, session_factory)
