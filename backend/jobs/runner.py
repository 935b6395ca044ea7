"""The one way to run a job: take the job lock, open a session, run the action.

The worker, the CLI (`train`, `build-index`), scripts and the EmbeddingRecommender facade all go
through `run_locked`, so two of them never train or build at the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from backend.database import SessionLocal
from backend.jobs.locks import exclusive
from backend.services.recommender_runtime import RecommenderRuntime

T = TypeVar("T")


def run_locked(
    runtime: RecommenderRuntime,
    action: Callable[[Session], T],
    *,
    session_factory: sessionmaker = SessionLocal,
    wait_seconds: float = 0.0,
) -> T:
    """Run `action(db)` holding the job lock; JobBusy when it is not free within wait_seconds."""
    engine = session_factory.kw["bind"]
    with exclusive(engine, runtime.settings.locks_dir, wait_seconds), session_factory() as db:
        return action(db)
