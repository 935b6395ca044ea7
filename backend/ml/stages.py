"""Bookkeeping and threading of the training stages (backend.ml.training)."""

from __future__ import annotations

import contextlib
import logging
import resource
import time

log = logging.getLogger("backend.ml.training")


class StageClock:
    """Seconds and the process's peak resident memory after each training stage, logged and
    kept for the model's meta (what grows how with the data: docs/scaling.md)."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}
        self._last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stages[stage] = {"seconds": round(now - self._last, 2), "peak_rss_mb": round(peak_mb)}
        log.info("training stage %s: %.1f s, peak RSS %.0f MB", stage, now - self._last, peak_mb)
        self._last = now


def blas_single_thread() -> contextlib.AbstractContextManager:
    """Run many small matrix-vector products on one BLAS thread.

    After a multi-threaded factorisation (the EASE fit), OpenBLAS's thread pool makes each tiny
    product of a per-user loop cost milliseconds on a busy machine instead of microseconds.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")
