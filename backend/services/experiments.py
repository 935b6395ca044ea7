"""Experiment definitions (admin), and which variant serves a recommendations request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.experiments.assignment import assign
from backend.models import Experiment, ExperimentVariant, User
from backend.models.base import utcnow
from backend.schemas.experiments import ExperimentIn
from backend.services.errors import ConflictError, NotFoundError, commit_or_conflict
from backend.services.impressions import NO_EXPERIMENT
from backend.services.users import Account


@dataclass(frozen=True)
class ServePlan:
    """How one recommendations request is served and how its impression is labelled."""

    method: str
    experiment_id: int | None = None
    experiment: str = NO_EXPERIMENT
    variant: str | None = None
    forced: bool = False


def create(db: Session, payload: ExperimentIn) -> Experiment:
    if db.scalar(select(Experiment.id).where(Experiment.name == payload.name)) is not None:
        raise ConflictError(f"An experiment named {payload.name} already exists")
    experiment = Experiment(
        name=payload.name,
        description=payload.description,
        status="draft",
        variants=[
            ExperimentVariant(name=v.name, position=k, share=v.share, method=v.method)
            for k, v in enumerate(payload.variants)
        ],
    )
    db.add(experiment)
    commit_or_conflict(db, f"An experiment named {payload.name} already exists")
    return get(db, payload.name)


def list_all(db: Session) -> list[Experiment]:
    query = select(Experiment).options(selectinload(Experiment.variants))
    return list(db.scalars(query.order_by(Experiment.created_at.desc(), Experiment.id.desc())))


def get(db: Session, name: str) -> Experiment:
    experiment = db.scalar(
        select(Experiment).options(selectinload(Experiment.variants)).where(Experiment.name == name)
    )
    if experiment is None:
        raise NotFoundError(f"Experiment {name} not found")
    return experiment


def start(db: Session, name: str) -> Experiment:
    """Start a draft. One experiment runs at a time; variants are frozen once started."""
    experiment = get(db, name)
    if experiment.status != "draft":
        raise ConflictError(f"Experiment {name} is {experiment.status}; only a draft can start")
    running = db.scalar(select(Experiment.name).where(Experiment.status == "running"))
    if running is not None:
        raise ConflictError(f"Experiment {running} is running; stop it first")
    experiment.status, experiment.started_at = "running", utcnow()
    db.commit()
    forget_running()
    return experiment


def stop(db: Session, name: str) -> Experiment:
    experiment = get(db, name)
    if experiment.status != "running":
        raise ConflictError(f"Experiment {name} is {experiment.status}, not running")
    experiment.status, experiment.stopped_at = "stopped", utcnow()
    db.commit()
    forget_running()
    return experiment


@dataclass(frozen=True)
class RunningExperiment:
    """What assignment needs of the running experiment (a plain snapshot, no ORM object)."""

    id: int
    name: str
    variants: tuple[tuple[str, str, float], ...]  # (name, method, share)


# Every recommendations request asks which experiment runs: the answer is kept this long per
# process, so a start or stop made through another worker takes effect within a second.
RUNNING_TTL_SECONDS = 1.0
_running_cache: tuple[float, RunningExperiment | None] | None = None
_running_lock = threading.Lock()


def forget_running() -> None:
    global _running_cache
    with _running_lock:
        _running_cache = None


def running(db: Session) -> RunningExperiment | None:
    global _running_cache
    with _running_lock:
        if (
            _running_cache is not None
            and time.monotonic() - _running_cache[0] < RUNNING_TTL_SECONDS
        ):
            return _running_cache[1]
    experiment = db.scalar(
        select(Experiment)
        .options(selectinload(Experiment.variants))
        .where(Experiment.status == "running")
    )
    snapshot = (
        None
        if experiment is None
        else RunningExperiment(
            experiment.id,
            experiment.name,
            tuple((v.name, v.method, v.share) for v in experiment.variants),
        )
    )
    with _running_lock:
        _running_cache = (time.monotonic(), snapshot)
    return snapshot


def plan_for(
    db: Session, caller: User | Account, user_id: int | None, use_embeddings: bool | None
) -> ServePlan:
    """The variant for a user viewing their own list; an explicit `use_embeddings` wins.

    Lists an admin requests for somebody else are never part of an experiment.
    """
    default = "hybrid_no_embeddings" if use_embeddings is False else "hybrid"
    forced = use_embeddings is not None
    experiment = running(db) if user_id in (None, caller.id) else None
    if experiment is None:
        return ServePlan(method=default, forced=forced)
    index = assign(experiment.name, caller.id, [share for _, _, share in experiment.variants])
    variant, method, _ = experiment.variants[index]
    return ServePlan(
        method=default if forced else method,
        experiment_id=experiment.id,
        experiment=experiment.name,
        variant=variant,
        forced=forced,
    )
