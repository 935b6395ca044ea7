"""One job at a time across every process that shares DATA_DIR (an OS file lock)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)


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
