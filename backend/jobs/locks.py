"""One job at a time across every process and host that shares the database.

PostgreSQL: a session-level advisory lock (released by the server when the holder's connection
dies, so kill -9 never leaves it taken). SQLite lives on one host: an OS file lock under
DATA_DIR/locks does the same there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

# Arbitrary 64-bit key naming "the movierec job lock" among the database's advisory locks.
ADVISORY_KEY = 0x6D6F76696572656A
POLL_SECONDS = 0.5


class JobBusy(RuntimeError):
    """Another process (or thread) is running a job right now."""


@contextmanager
def job_lock(locks_dir: Path, name: str = "jobs", wait_seconds: float = 0.0) -> Iterator[None]:
    locks_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks_dir / f"{name}.lock"), thread_local=False)
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout as exc:
        raise JobBusy(f"another process holds the {name} lock") from exc
    try:
        yield
    finally:
        lock.release()


@contextmanager
def advisory_lock(engine: Engine, wait_seconds: float = 0.0) -> Iterator[None]:
    deadline = time.monotonic() + wait_seconds
    with engine.connect() as conn:
        while True:
            taken = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
            ).scalar_one()
            conn.commit()
            if taken:
                break
            if time.monotonic() >= deadline:
                raise JobBusy("another process holds the job lock")
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            conn.commit()


@contextmanager
def exclusive(engine: Engine, locks_dir: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """The job lock for this deployment: advisory on PostgreSQL, a file lock on SQLite."""
    if engine.dialect.name == "postgresql":
        with advisory_lock(engine, wait_seconds):
            yield
    else:
        with job_lock(locks_dir, wait_seconds=wait_seconds):
            yield
