"""The recommendation cache: serialised answers behind one small interface.

In-process LRU by default. Several processes share one cache: Redis when REDIS_URL is set, or,
on one machine without Redis, a directory (`RECOMMENDATION_CACHE_DIR`, which `api` and `run`
set when they start several workers), each process keeping a bounded LRU in front of it (a near
cache: a repeated list costs no round trip).
Nothing stale can be served, whichever process wrote what, because the key names every input of
the answer: the user's ratings version (a column of the users row, moved in the same transaction
as every rating write or delete, so every process reads it with the user), the model bundle, the
embedding index and the catalogue versions, the request's parameters, and `answer_fingerprint`
(the code and the settings that shape a list: Redis and the directory outlive a restart). The
TTL only bounds memory; correctness never depends on it. For the same reason a near cache can
never serve a stale list: its entry is the shared one's bytes under the same key.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import diskcache
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
NEAR_HITS = Counter(
    "recommendation_cache_near_hits",
    "Recommendation cache hits answered by this process's LRU in front of the shared cache",
    registry=REGISTRY,
)
KEY_PREFIX = "movierec:"
# What a shared cache raises when it cannot answer: the answer is computed (and not kept).
UNAVAILABLE = (redis.RedisError, diskcache.Timeout, sqlite3.Error, OSError)
BACKEND_DIR = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of the backend's source (read once per process): a release, or any change to
    the code, never reads lists, reasons or JSON that another version ranked and rendered."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(BACKEND_DIR.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def answer_fingerprint(settings: Settings) -> str:
    """What shapes a cached list besides the data versions in its key: the code and the
    ranking settings (MMR diversity; the popularity prior of newcomers' lists)."""
    return (
        f"{code_fingerprint()}:d{settings.diversity_lambda}:p{settings.popularity_prior_strength}"
    )


class RecommendationCache(ABC):
    """Bytes by key with a TTL."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self.hits = 0
        self.misses = 0

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def put(self, key: str, value: bytes) -> None: ...

    @abstractmethod
    def clear(self) -> None: ...

    def lookup(self, key: str | None) -> bytes | None:
        """`get`, counted as a hit or a miss; a broken backend counts as a miss."""
        if key is None:
            CACHE_REQUESTS.labels("bypass").inc()
            return None
        try:
            value = self.get(key)
        except UNAVAILABLE as exc:
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
        except UNAVAILABLE as exc:
            log.warning("recommendation cache unavailable (%s): answer not stored", exc)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class LocalCache(RecommendationCache):
    """A bounded LRU in this process; with several processes Redis shares one cache."""

    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        super().__init__(ttl_seconds)
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
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

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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

    def clear(self) -> None:
        for key in self.client.scan_iter(f"{KEY_PREFIX}*"):
            self.client.delete(key)


class FileCache(RecommendationCache):
    """Shared by the serving processes of one machine through a directory (diskcache: SQLite in
    WAL mode, so a read never waits for a write); bounded in bytes, entries expire by TTL."""

    def __init__(self, directory: Path, ttl_seconds: float, size_bytes: int) -> None:
        super().__init__(ttl_seconds)
        # A busy database answers within a second or counts as unavailable (like Redis's).
        self.files = diskcache.Cache(str(directory), size_limit=size_bytes, timeout=1.0)

    def get(self, key: str) -> bytes | None:
        return self.files.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.files.set(key, value, expire=self.ttl)

    def clear(self) -> None:
        self.files.clear()


class TieredCache(RecommendationCache):
    """A cache shared by several processes (`shared`) behind a bounded LRU of this process
    (`near`).

    The lookup runs on the event loop with a synchronous client: a round trip to Redis holds
    the loop (and, on a busy machine, waits for Redis to get a core), so a list this process
    has seen is answered from its own memory. A list first asked of another process still
    costs one round trip here, then none. `clear` empties this process's near cache and the
    shared one; other processes' near caches keep their entries until their TTL, which is
    safe because keys name every input of an answer: a key always holds the same bytes."""

    def __init__(self, shared: RecommendationCache, max_entries: int) -> None:
        super().__init__(shared.ttl)
        self.shared = shared
        self.near = LocalCache(shared.ttl, max_entries)

    def get(self, key: str) -> bytes | None:
        value = self.near.get(key)
        if value is not None:
            NEAR_HITS.inc()
            return value
        value = self.shared.get(key)
        if value is not None:
            self.near.put(key, value)
        return value

    def put(self, key: str, value: bytes) -> None:
        self.near.put(key, value)  # first: kept here even when the shared cache is unavailable
        self.shared.put(key, value)

    def clear(self) -> None:
        self.near.clear()
        self.shared.clear()


class DisabledCache(LocalCache):
    """RECOMMENDATION_CACHE=false: every lookup is a miss and nothing is kept."""

    def __init__(self) -> None:
        super().__init__(0, 0)

    def put(self, key: str, value: bytes) -> None:
        return None


def make_cache(settings: Settings) -> RecommendationCache:
    if not settings.recommendation_cache:
        return DisabledCache()
    code_fingerprint()  # the keys' digest of the source: read at start-up, not by a request
    ttl = settings.recommendation_cache_ttl_seconds
    entries = settings.recommendation_cache_max_entries
    if settings.redis_url:
        return TieredCache(RedisCache(settings.redis_url, ttl), entries)
    if settings.recommendation_cache_dir is not None:
        size = settings.recommendation_cache_dir_mb * 2**20
        try:
            return TieredCache(FileCache(settings.recommendation_cache_dir, ttl, size), entries)
        except UNAVAILABLE as exc:  # a directory that cannot be created or opened
            log.warning(
                "recommendation cache directory %s unusable (%s): each process keeps its own",
                settings.recommendation_cache_dir,
                exc,
            )
    return LocalCache(ttl, entries)
