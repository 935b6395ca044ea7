"""What each job kind does, given the runtime and a session (the caller holds the job lock)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from backend.database import SessionLocal
from backend.jobs.locks import JobBusy
from backend.jobs.queue import BOOTSTRAP, REBUILD_INDEX, RETRAIN
from backend.jobs.runner import run_locked
from backend.services.recommender_runtime import RecommenderRuntime, get_runtime

log = logging.getLogger(__name__)


def retrain(runtime: RecommenderRuntime, db: Session) -> str:
    bundle = runtime.train(db)
    return f"models {bundle.version} trained on {bundle.meta.get('n_ratings')} ratings"


def rebuild_index(runtime: RecommenderRuntime, db: Session, max_movies: int | None = None) -> str:
    report = runtime.build_index(db, max_movies=max_movies)
    s = report.stats
    return (
        f"index {report.version}: {s.encoded_text} texts and {s.encoded_images} posters "
        f"encoded, {s.reused} reused, {s.dropped} dropped"
    )


def bootstrap(runtime: RecommenderRuntime, db: Session) -> str:
    """What a fresh service needs: an index and models, each built only when absent.

    The index comes first and the models are trained once on top of it, so the first model
    already blends the text signals: one training instead of a baseline one and a relearn once
    the index lands. Until then the API serves popular movies, marked as a fallback. When the
    index cannot be built the models are still trained (without text signals) and the job is
    recorded as failed with the index's error.
    """
    settings = runtime.settings
    runtime.load_from_disk()
    done = []
    index_error: Exception | None = None
    if settings.build_index_on_startup and runtime.index is None:
        try:
            done.append(rebuild_index(runtime, db))
        except Exception as exc:  # noqa: BLE001 - models are still trained, the error re-raised
            db.rollback()
            log.exception("bootstrap: index build failed; training without text signals")
            index_error = exc
    bundle = runtime.bundle
    lacks_content = (
        bundle is not None and runtime.index is not None and not bundle.meta.get("content_version")
    )
    if settings.train_on_startup and (bundle is None or lacks_content):
        done.append(retrain(runtime, db))
    if index_error is not None:
        raise RuntimeError(
            f"index build failed ({type(index_error).__name__}: {index_error}); "
            + ("; ".join(done) or "nothing else to do")
        ) from index_error
    return "; ".join(done) or "models and index already present"


HANDLERS: dict[str, Callable[[RecommenderRuntime, Session], str]] = {
    RETRAIN: retrain,
    REBUILD_INDEX: rebuild_index,
    BOOTSTRAP: bootstrap,
}


def _now_or_skip(
    what: str,
    runtime: RecommenderRuntime | None,
    session_factory: sessionmaker,
    wait_seconds: float,
    action: Callable[[RecommenderRuntime, Session], str],
) -> str | None:
    rt = runtime or get_runtime()
    try:
        return run_locked(
            rt,
            lambda db: action(rt, db),
            session_factory=session_factory,
            wait_seconds=wait_seconds,
        )
    except JobBusy as exc:
        log.info("%s skipped: %s", what, exc)
        return None


def rebuild_index_job(
    runtime: RecommenderRuntime | None = None,
    session_factory: sessionmaker = SessionLocal,
    max_movies: int | None = None,
    wait_seconds: float = 0.0,
) -> str | None:
    """Rebuild the index now under the job lock; the new version, or None when it is busy."""
    return _now_or_skip(
        "index rebuild",
        runtime,
        session_factory,
        wait_seconds,
        lambda rt, db: rt.build_index(db, max_movies=max_movies).version,
    )


def retrain_models_job(
    runtime: RecommenderRuntime | None = None,
    session_factory: sessionmaker = SessionLocal,
    wait_seconds: float = 0.0,
) -> str | None:
    """Retrain now under the job lock; the new model version, or None when it is busy."""
    return _now_or_skip(
        "retraining", runtime, session_factory, wait_seconds, lambda rt, db: rt.train(db).version
    )
