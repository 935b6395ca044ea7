"""Slow down password guessing: too many failures per username or client gives 429."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

# Guessing many different usernames must not grow the table without bound.
MAX_TRACKED_KEYS = 10_000


class LoginThrottle:
    def __init__(self, max_failures: int, window_seconds: float, lockout_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.lockout = lockout_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds to wait before another attempt is allowed (0 when allowed)."""
        now = time.monotonic()
        with self._lock:
            waits = [self._locked_until.get(k, 0.0) - now for k in keys]
        wait = max(waits, default=0.0)
        return int(wait) + 1 if wait > 0 else 0

    def record_failure(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > MAX_TRACKED_KEYS:
                self._forget_older_than(now - self.window)
            for key in keys:
                attempts = self._failures[key]
                attempts.append(now)
                while attempts and attempts[0] < now - self.window:
                    attempts.popleft()
                if len(attempts) >= self.max_failures:
                    self._locked_until[key] = now + self.lockout
                    attempts.clear()

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or v[-1] < cutoff]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until < cutoff]:
            del self._locked_until[key]

    def record_success(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
                self._locked_until.pop(key, None)
