"""The recommendation cache backends: LRU bounds, TTL; Redis when available. The per-user ratings
version that keys the cache lives on the users row (tests/services/test_ratings_version.py)."""

from __future__ import annotations

import os
import time

import pytest

from backend.config import Settings
from backend.services.cache import (
    NEAR_HITS,
    DisabledCache,
    FileCache,
    LocalCache,
    RedisCache,
    TieredCache,
    answer_fingerprint,
    code_fingerprint,
    make_cache,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set (CI starts Redis)")


def test_local_cache_is_a_bounded_lru():
    cache = LocalCache(ttl_seconds=60, max_entries=2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # "a" is now the most recently used
    cache.put("c", b"3")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"1", b"3")
    assert len(cache) == 2


def test_local_cache_entries_expire():
    cache = LocalCache(ttl_seconds=0.05, max_entries=10)
    cache.put("a", b"1")
    time.sleep(0.1)
    assert cache.get("a") is None


def test_lookup_counts_hits_and_misses():
    cache = LocalCache(ttl_seconds=60, max_entries=10)
    assert cache.lookup("k") is None
    cache.store("k", b"v")
    assert cache.lookup("k") == b"v"
    assert cache.lookup(None) is None  # not cacheable: neither a hit nor a miss
    assert (cache.hits, cache.misses, cache.hit_rate) == (1, 1, 0.5)


def test_disabled_cache_never_keeps_anything():
    cache = DisabledCache()
    cache.store("k", b"v")
    assert cache.lookup("k") is None


def test_make_cache_follows_settings(tmp_path):
    assert isinstance(make_cache(Settings(recommendation_cache=False)), DisabledCache)
    local = make_cache(Settings(recommendation_cache_max_entries=5))
    assert isinstance(local, LocalCache) and local.max_entries == 5
    settings = Settings(redis_url="redis://127.0.0.1:1/0", recommendation_cache_max_entries=7)
    shared = make_cache(settings)
    assert isinstance(shared, TieredCache) and isinstance(shared.shared, RedisCache)
    assert shared.near.max_entries == 7
    settings = Settings(recommendation_cache_dir=tmp_path, recommendation_cache_dir_mb=3)
    on_disk = make_cache(settings)
    assert isinstance(on_disk, TieredCache) and isinstance(on_disk.shared, FileCache)
    assert on_disk.shared.files.size_limit == 3 * 2**20
    # Redis wins over a directory: it is shared beyond one machine.
    both = make_cache(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert isinstance(both.shared, RedisCache)
    assert Settings(recommendation_cache_dir=" ").recommendation_cache_dir is None


def test_unreachable_redis_degrades_to_computing():
    cache = RedisCache("redis://127.0.0.1:1/0", ttl_seconds=60)
    assert cache.lookup("k") is None
    cache.store("k", b"v")  # logged, not raised
    assert cache.misses == 1


@needs_redis
def test_redis_cache_is_shared_between_clients():
    one, two = RedisCache(REDIS_URL, ttl_seconds=60), RedisCache(REDIS_URL, ttl_seconds=60)
    one.clear()
    one.store("k", b"v")
    assert two.lookup("k") == b"v"
    assert two.client.ttl("movierec:k") <= 60
    one.clear()
    assert two.get("k") is None


def test_directory_cache_is_shared_between_instances_and_expires(tmp_path):
    one, two = FileCache(tmp_path, 60, 2**20), FileCache(tmp_path, 1.0, 2**20)
    one.store("k", b"v")
    assert two.lookup("k") == b"v"
    two.store("short", b"lived")
    assert one.lookup("short") == b"lived"
    time.sleep(1.1)
    assert one.lookup("short") is None and one.lookup("k") == b"v"
    two.clear()
    assert one.lookup("k") is None


def test_near_cache_reads_the_directory_once_then_answers_itself(tmp_path):
    one = TieredCache(FileCache(tmp_path, 60, 2**20), max_entries=10)
    two = TieredCache(FileCache(tmp_path, 60, 2**20), max_entries=10)
    one.store("k", b"v")
    assert len(two.near) == 0
    before = NEAR_HITS._value.get()
    assert two.lookup("k") == b"v"  # from the directory, now kept near
    assert NEAR_HITS._value.get() == before
    one.shared.files.delete("k")
    assert two.lookup("k") == b"v"  # no read: the same key always holds the same bytes
    assert NEAR_HITS._value.get() == before + 1
    assert (two.hits, two.misses) == (2, 0)


def test_a_directory_that_cannot_be_created_leaves_each_process_its_own_cache(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    settings = Settings(recommendation_cache_dir=tmp_path / "file" / "cache")
    assert isinstance(make_cache(settings), LocalCache)


def test_answers_of_other_code_or_ranking_settings_are_keyed_apart():
    default = answer_fingerprint(Settings())
    assert default == answer_fingerprint(Settings()) and code_fingerprint() in default
    assert answer_fingerprint(Settings(diversity_lambda=0.3)) != default
    assert answer_fingerprint(Settings(popularity_prior_strength=3.0)) != default


def test_an_unusable_directory_degrades_to_computing(tmp_path):
    cache = TieredCache(FileCache(tmp_path, 60, 2**20), max_entries=10)
    cache.shared.files.close()
    (tmp_path / "cache.db").unlink()
    (tmp_path / "cache.db").mkdir()  # the database file can no longer be opened
    assert cache.lookup("k") is None
    cache.store("k", b"v")  # logged, not raised; kept near
    assert cache.lookup("k") == b"v"


def test_near_cache_answers_what_this_process_stored_when_redis_is_down():
    cache = TieredCache(RedisCache("redis://127.0.0.1:1/0", ttl_seconds=60), max_entries=10)
    cache.store("k", b"v")  # Redis refuses: logged, kept near
    before = NEAR_HITS._value.get()
    assert cache.lookup("k") == b"v"
    assert cache.lookup("other") is None
    assert NEAR_HITS._value.get() == before + 1
    assert (cache.hits, cache.misses) == (1, 1)


@needs_redis
def test_near_cache_reads_the_shared_entry_once_then_answers_itself():
    one = TieredCache(RedisCache(REDIS_URL, ttl_seconds=60), max_entries=10)
    two = TieredCache(RedisCache(REDIS_URL, ttl_seconds=60), max_entries=10)
    one.clear()
    one.store("k", b"v")
    assert len(two.near) == 0
    assert two.lookup("k") == b"v"  # from Redis, now kept near
    assert two.near.get("k") == b"v"
    two.shared.client.delete("movierec:k")
    assert two.lookup("k") == b"v"  # no round trip: the same key always holds the same bytes
    one.clear()
    assert one.lookup("k") is None
