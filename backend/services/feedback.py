"""Feedback on shown lists: client events (click, detail view, dismiss) and attributed ratings."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from backend.models import Experiment, FeedbackEvent, Impression, ImpressionItem, User
from backend.observability import CLICKS, CONVERSIONS, FEEDBACK_EVENTS, FEEDBACK_REJECTED
from backend.services.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
    commit_or_conflict,
)
from backend.services.impressions import NO_EXPERIMENT, flush_pending, request_age_seconds

log = logging.getLogger(__name__)

CONVERSION_RATING = 4.0


class NotShownError(ServiceError):
    status_code = 422


def _refuse(reason: str, error: ServiceError) -> ServiceError:
    FEEDBACK_REJECTED.labels(reason=reason).inc()
    return error


def _find_impression(db: Session, request_id: str, grace_seconds: float) -> Impression | None:
    """The impression, waiting up to `grace_seconds` after its creation for it to be written
    (this worker's queue is flushed at once; another worker's within its flush interval)."""
    query = (
        select(Impression)
        .options(selectinload(Impression.items))
        .where(Impression.request_id == request_id)
    )
    impression = db.scalar(query)
    if impression is not None:
        return impression
    flush_pending()
    impression = db.scalar(query)
    age = request_age_seconds(request_id)
    while impression is None and age is not None and 0 <= age < grace_seconds:
        time.sleep(0.05)
        db.rollback()  # a fresh snapshot on the next read
        impression = db.scalar(query)
        age = request_age_seconds(request_id)
    return impression


def _labels(db: Session, impression: Impression) -> tuple[str, str]:
    if impression.experiment_id is None:
        return NO_EXPERIMENT, impression.method
    name = db.scalar(select(Experiment.name).where(Experiment.id == impression.experiment_id))
    return name or NO_EXPERIMENT, impression.variant or impression.method


def record_event(
    db: Session, user: User, request_id: str, movie_id: int, kind: str, grace_seconds: float
) -> FeedbackEvent:
    impression = _find_impression(db, request_id, grace_seconds)
    if impression is None:
        raise _refuse("unknown_request", NotFoundError(f"Unknown request id {request_id}"))
    if impression.user_id != user.id:
        raise _refuse(
            "other_user", ForbiddenError("That recommendation list was shown to another user")
        )
    positions = {item.movie_id: item.position for item in impression.items}
    if movie_id not in positions:
        raise _refuse("not_shown", NotShownError(f"Movie {movie_id} was not in list {request_id}"))
    event = FeedbackEvent(
        impression_id=impression.id,
        user_id=user.id,
        movie_id=movie_id,
        position=positions[movie_id],
        kind=kind,
    )
    db.add(event)
    try:
        commit_or_conflict(db, f"{kind} of movie {movie_id} in list {request_id} already recorded")
    except ConflictError as exc:
        _refuse("duplicate", exc)
        raise
    FEEDBACK_EVENTS.labels(kind=kind).inc()
    if kind == "click":
        CLICKS.labels(*_labels(db, impression)).inc()
    return event


def attribute_rating(
    db: Session, user_id: int, movie_id: int, value: float, at: datetime, window_hours: float
) -> None:
    """Record a rating against the user's latest own list that showed the movie in the window.

    The first rating per list and movie counts; a failure here never fails the rating itself.
    """
    try:
        flush_pending()
        shown = db.execute(
            select(Impression, ImpressionItem.position)
            .join(ImpressionItem, ImpressionItem.impression_id == Impression.id)
            .where(
                Impression.user_id == user_id,
                Impression.subject_user_id == user_id,
                ImpressionItem.movie_id == movie_id,
                Impression.created_at >= at - timedelta(hours=window_hours),
                Impression.created_at <= at,
            )
            .order_by(Impression.created_at.desc(), Impression.id.desc())
            .limit(1)
        ).first()
        if shown is None:
            return
        impression, position = shown
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (
            insert(FeedbackEvent)
            .values(
                impression_id=impression.id,
                user_id=user_id,
                movie_id=movie_id,
                position=position,
                kind="rating",
                rating=value,
                created_at=at,
            )
            .on_conflict_do_nothing()
        )
        inserted = db.execute(stmt).rowcount
        db.commit()
    except SQLAlchemyError:
        db.rollback()
        log.exception("rating of movie %s by user %s not attributed", movie_id, user_id)
        return
    if inserted:
        FEEDBACK_EVENTS.labels(kind="rating").inc()
        if value >= CONVERSION_RATING:
            CONVERSIONS.labels(*_labels(db, impression)).inc()
