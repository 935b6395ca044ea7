"""The impression log: every recommendations response, written off the request path.

Requests put an `ImpressionRecord` on an in-memory queue (microseconds); a background thread
writes what has queued up every `impression_flush_seconds`, in batches. `close()` (called from
the app lifespan on a clean shutdown) stops the thread and writes everything still queued.
"""

from __future__ import annotations

import logging
import queue
import re
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.models import Impression, ImpressionItem
from backend.models.base import utcnow
from backend.observability import IMPRESSIONS, IMPRESSIONS_DROPPED

if TYPE_CHECKING:
    from backend.services.experiments import ServePlan
    from backend.services.recommender_runtime import RecommenderRuntime

log = logging.getLogger(__name__)

NO_EXPERIMENT = "none"
# Stands for the request id in cached response bodies (same length as a real one).
REQUEST_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_ITEM_ID = re.compile(rb'\{"id":(\d+)[,}]')
_FALLBACK = b'"fallback":true'
_LIVE: weakref.WeakSet[ImpressionRecorder] = weakref.WeakSet()


def new_request_id() -> str:
    """A UUID whose first 48 bits are the creation time in milliseconds (time-ordered ids)."""
    millis = int(time.time() * 1000) & (2**48 - 1)
    return str(uuid.UUID(int=(millis << 80) | secrets.randbits(80)))


def request_age_seconds(request_id: str) -> float | None:
    """Seconds since a request id from `new_request_id` was made (None if it is not one)."""
    try:
        millis = uuid.UUID(request_id).int >> 80
    except ValueError:
        return None
    return time.time() - millis / 1000


@dataclass(frozen=True)
class ImpressionRecord:
    request_id: str
    user_id: int
    subject_user_id: int
    method: str
    movie_ids: tuple[int, ...]
    experiment_id: int | None = None
    experiment: str = NO_EXPERIMENT
    variant: str | None = None
    forced: bool = False
    fallback: bool = False
    model_version: str | None = None
    index_version: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def row(self) -> dict:
        """The impressions row (its items are written once the row has its id)."""
        return {name: getattr(self, name) for name in _RECORD_COLUMNS}


_IMPRESSIONS, _ITEMS = Impression.__table__, ImpressionItem.__table__
_RECORD_COLUMNS = [
    column.key
    for column in _IMPRESSIONS.columns
    if column.key in ImpressionRecord.__dataclass_fields__
]
# Built once: a statement's cache key is computed once per object, and the writer runs beside
# the request handlers in every serving worker.
_INSERT_IMPRESSIONS = insert(_IMPRESSIONS).returning(
    _IMPRESSIONS.c.id, sort_by_parameter_order=True
)
_ITEM_COLUMNS = ("impression_id", "movie_id", "position")
# The driver's positional placeholder: the items (ten a list) go to the driver's executemany as
# plain tuples, since Core's per-row parameter processing cost as much as the inserts. A driver
# with another paramstyle (named, numeric) gets Core's executemany.
_INSERT_ITEMS_SQL = {
    style: f"INSERT INTO {_ITEMS.name} ({', '.join(_ITEM_COLUMNS)}) "
    f"VALUES ({', '.join([mark] * len(_ITEM_COLUMNS))})"
    for style, mark in (("qmark", "?"), ("format", "%s"), ("pyformat", "%s"))
}
_INSERT_ITEMS = insert(_ITEMS)


def _insert_items(connection: Connection, items: list[tuple[int, int, int]]) -> None:
    sql = _INSERT_ITEMS_SQL.get(connection.dialect.paramstyle)
    if sql is None:
        connection.execute(
            _INSERT_ITEMS, [dict(zip(_ITEM_COLUMNS, item, strict=True)) for item in items]
        )
    else:
        connection.exec_driver_sql(sql, items)


def _insert(db: Session, batch: list[ImpressionRecord]) -> None:
    """Two bulk statements, impressions then their items: no ORM object per row (the writer
    shares the serving workers' CPU)."""
    connection = db.connection()
    ids = connection.execute(_INSERT_IMPRESSIONS, [record.row() for record in batch]).scalars()
    items = [
        (impression_id, movie_id, position)
        for impression_id, record in zip(ids.all(), batch, strict=True)
        for position, movie_id in enumerate(record.movie_ids, start=1)
    ]
    if items:
        _insert_items(connection, items)


class ImpressionRecorder:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        flush_seconds: float = 0.2,
        batch_size: int = 500,
        max_queue: int = 100_000,
    ) -> None:
        self.session_factory = session_factory
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._queue: queue.Queue[ImpressionRecord] = queue.Queue(maxsize=max_queue)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="impression-writer")
        self._thread.start()
        _LIVE.add(self)

    def record(self, record: ImpressionRecord) -> None:
        """Queue one impression; never blocks the request."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            IMPRESSIONS_DROPPED.labels(reason="queue_full").inc()
            log.warning("impression queue full: %s not recorded", record.request_id)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self) -> int:
        """Write everything queued so far; returns how many impressions were written."""
        written = 0
        while True:
            with self._write_lock:
                batch = self._take_batch()
                if not batch:
                    return written
                written += self._write(batch)

    def close(self) -> None:
        """Stop the writer and write what is still queued (clean shutdown loses nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        _LIVE.discard(self)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the writer thread must survive a bad batch
                log.exception("impression writer failed; retrying at the next flush")

    def _take_batch(self) -> list[ImpressionRecord]:
        batch: list[ImpressionRecord] = []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[ImpressionRecord]) -> int:
        with self.session_factory() as db:
            try:
                _insert(db, batch)
                db.commit()
                written = batch
            except SQLAlchemyError:
                db.rollback()
                written = self._write_one_by_one(db, batch)
        for record in written:
            IMPRESSIONS.labels(record.experiment, record.variant or record.method).inc()
        return len(written)

    @staticmethod
    def _write_one_by_one(db: Session, batch: list[ImpressionRecord]) -> list[ImpressionRecord]:
        """A batch failed (a user deleted meanwhile, say): keep every impression that can be."""
        written = []
        for record in batch:
            try:
                _insert(db, [record])
                db.commit()
                written.append(record)
            except SQLAlchemyError as exc:
                db.rollback()
                IMPRESSIONS_DROPPED.labels(reason="write_failed").inc()
                log.warning("impression %s not recorded: %s", record.request_id, exc)
        return written


def served_movie_ids(body: bytes) -> tuple[int, ...]:
    """The movie ids of a served list's JSON body, in order, without parsing it (a full parse
    costs more than the rest of a cache hit): inside a JSON string every quote is escaped, so
    `{"id":` only ever opens an item of the top-level array."""
    return tuple(int(movie_id) for movie_id in _ITEM_ID.findall(body))


def record_served(
    recorder: ImpressionRecorder,
    runtime: RecommenderRuntime,
    viewer_id: int,
    subject_user_id: int,
    plan: ServePlan,
    body: bytes,
) -> tuple[str, bytes]:
    """Queue the impression of a served list (a JSON body with placeholder request ids);
    returns the new request id and the body carrying it."""
    request_id = new_request_id()
    recorder.record(
        ImpressionRecord(
            request_id=request_id,
            user_id=viewer_id,
            subject_user_id=subject_user_id,
            method=plan.method,
            movie_ids=served_movie_ids(body),
            experiment_id=plan.experiment_id,
            experiment=plan.experiment,
            variant=plan.variant,
            forced=plan.forced,
            fallback=_FALLBACK in body,
            model_version=runtime.bundle.version if runtime.bundle else None,
            index_version=runtime.index.version if runtime.index else None,
        )
    )
    return request_id, body.replace(REQUEST_ID_PLACEHOLDER.encode(), request_id.encode())


def flush_pending() -> None:
    """Write the impressions queued in this process, and wait for a batch being written, before
    looking one up by request id."""
    for recorder in list(_LIVE):
        recorder.flush()
