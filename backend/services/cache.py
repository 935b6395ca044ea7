"""The recommendation cache: serialised answers behind one small interface.

In-process LRU by default; Redis when REDIS_URL is set, so every API process shares one cache and
one set of per-user ratings versions. A process-local cache's keys also carry a fingerprint of the
user's stored ratings, so a rating written through another worker is never answered stale.
Nothing stale can be served because the key names every
input of the answer: the user's ratings version (bumped on each rating write or delete), the model
bundle, the embedding index and the catalogue versions, and the request's parameters. The TTL only
bounds memory; correctness never depends on it.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict

import redis
from prometheus_client import Counter

from backend.config import Settings
from backend.observability import REGISTRY

log = logging.getLogger(__name__)

CACHE_REQUESTS = Counter(
    "recommendation_cache_requests",
    "Recommendation cache lookups by result (hit, miss, bypass: not cacheable)",
    ["result"],
    registry=REGISTRY,
)
KEY_PREFIX = "movierec:"


class RecommendationCache(ABC):
    # A process-local cache cannot see ratings written through another process (make run serves
    # with several uvicorn workers), so its keys also carry the user's ratings as stored.
    process_local = False
    """Bytes by key with a TTL, plus a per-user counter that moves on every rating change."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.hits = 0
        self.misses = 0

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def put(self, key: str, value: bytes) -> None: ...

    @abstractmethod
    def ratings_version(self, user_id: int) -> int | None:
        """None when the version cannot be read: the answer must then bypass the cache."""

    @abstractmethod
    def bump_ratings_version(self, user_id: int) -> None: ...

    @abstractmethod
    def clear(self) -> None: ...

    def lookup(self, key: str | None) -> bytes | None:
        """`get`, counted as a hit or a miss; a broken backend counts as a miss."""
        if key is None:
            CACHE_REQUESTS.labels("bypass").inc()
            return None
        try:
            value = self.get(key)
        except redis.RedisError as exc:
            log.warning("recommendation cache unavailable (%s): computing the answer", exc)
            value = None
        if value is None:
            self.misses += 1
            CACHE_REQUESTS.labels("miss").inc()
        else:
            self.hits += 1
            CACHE_REQUESTS.labels("hit").inc()
        return value

    def store(self, key: str, value: bytes) -> None:
        try:
            self.put(key, value)
        except redis.RedisError as exc:
            log.warning("recommendation cache unavailable (%s): answer not stored", exc)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class LocalCache(RecommendationCache):
    """A bounded LRU in this process; with several processes Redis shares one cache."""

    process_local = True

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        super().__init__(ttl_seconds)
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._versions: dict[int, int] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def ratings_version(self, user_id: int) -> int | None:
        return self._versions.get(user_id, 0)

    def bump_ratings_version(self, user_id: int) -> None:
        with self._lock:
            self._versions[user_id] = self._versions.get(user_id, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._versions.clear()

    def __len__(self) -> int:
        return len(self._entries)


class RedisCache(RecommendationCache):
    """Shared by every process on the same Redis; entries expire by Redis TTL."""

    def __init__(self, url: str, ttl_seconds: float) -> None:
        super().__init__(ttl_seconds)
        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    def get(self, key: str) -> bytes | None:
        return self.client.get(KEY_PREFIX + key)

    def put(self, key: str, value: bytes) -> None:
        self.client.set(KEY_PREFIX + key, value, ex=max(1, int(self.ttl)))

    def ratings_version(self, user_id: int) -> int | None:
        try:
            return int(self.client.get(f"{KEY_PREFIX}ratings-version:{user_id}") or 0)
        except redis.RedisError as exc:
            log.warning("recommendation cache unavailable (%s): computing the answer", exc)
            return None

    def bump_ratings_version(self, user_id: int) -> None:
        # Versions outlive cached answers, so an old answer can never match a new key.
        try:
            self.client.incr(f"{KEY_PREFIX}ratings-version:{user_id}")
        except redis.RedisError as exc:
            log.error("could not invalidate user %s's cached recommendations: %s", user_id, exc)

    def clear(self) -> None:
        for key in self.client.scan_iter(f"{KEY_PREFIX}*"):
            self.client.delete(key)


class DisabledCache(LocalCache):
    """RECOMMENDATION_CACHE=false: every lookup is a miss and nothing is kept."""

    def __init__(self) -> None:
        super().__init__(0, 0)

    def put(self, key: str, value: bytes) -> None:
        return None


def make_cache(settings: Settings) -> RecommendationCache:
    if not settings.recommendation_cache:
        return DisabledCache()
    ttl = settings.recommendation_cache_ttl_seconds
    if settings.redis_url:
        return RedisCache(settings.redis_url, ttl)
    return LocalCache(ttl, settings.recommendation_cache_max_entries)
