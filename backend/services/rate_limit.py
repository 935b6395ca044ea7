"""Counters that slow down guessing and sign-up floods, shared by every API worker.

A key (e.g. "login:alice|203.0.113.9") counts hits in a fixed window; the hit that reaches the
limit blocks the key for a while. Counters live in the database (one upsert per hit), or in
Redis when REDIS_URL is set, so N workers allow the same number of guesses as one.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Protocol

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker

from backend.models import RateLimitCounter
from backend.models.base import utcnow

# Rows idle for this long are removed now and then (guessing many names must not grow forever).
FORGET_AFTER = timedelta(days=1)
FORGET_PROBABILITY = 0.01


class RateLimiter(Protocol):
    def blocked_for(self, *keys: str) -> int:
        """Seconds until every key is allowed again (0: allowed now)."""

    def hit(self, key: str, limit: int, window_seconds: int, block_seconds: int) -> None:
        """Count one hit; the one that reaches `limit` within the window blocks the key."""

    def reset(self, key: str) -> None: ...


class DatabaseRateLimiter:
    def __init__(self, session_factory: sessionmaker) -> None:
        self.session_factory = session_factory

    def blocked_for(self, *keys: str) -> int:
        now = utcnow()
        with self.session_factory() as db:
            until = db.scalar(
                select(RateLimitCounter.blocked_until)
                .where(RateLimitCounter.key.in_(keys), RateLimitCounter.blocked_until > now)
                .order_by(RateLimitCounter.blocked_until.desc())
                .limit(1)
            )
        return int((until - now).total_seconds()) + 1 if until is not None else 0

    def hit(self, key: str, limit: int, window_seconds: int, block_seconds: int) -> None:
        now = utcnow()
        table = RateLimitCounter.__table__
        with self.session_factory() as db:
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            expired = table.c.window_started_at < now - timedelta(seconds=window_seconds)
            stmt = (
                insert(table)
                .values(key=key, hits=1, window_started_at=now, blocked_until=None)
                .on_conflict_do_update(
                    index_elements=[table.c.key],
                    set_={
                        "hits": case((expired, 1), else_=table.c.hits + 1),
                        "window_started_at": case((expired, now), else_=table.c.window_started_at),
                    },
                )
                .returning(table.c.hits)
            )
            hits = db.execute(stmt).scalar_one()
            if hits >= limit:
                db.execute(
                    table.update()
                    .where(table.c.key == key)
                    .values(
                        hits=0,
                        window_started_at=now,
                        blocked_until=now + timedelta(seconds=block_seconds),
                    )
                )
            if random.random() < FORGET_PROBABILITY:
                db.execute(
                    delete(table).where(
                        table.c.window_started_at < now - FORGET_AFTER,
                        (table.c.blocked_until.is_(None)) | (table.c.blocked_until < now),
                    )
                )
            db.commit()

    def reset(self, key: str) -> None:
        with self.session_factory() as db:
            db.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))
            db.commit()


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str = "movierec:rl:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def blocked_for(self, *keys: str) -> int:
        ttls = [self.client.pttl(f"{self.prefix}block:{k}") for k in keys]
        longest = max((t for t in ttls if t and t > 0), default=0)
        return (longest + 999) // 1000

    def hit(self, key: str, limit: int, window_seconds: int, block_seconds: int) -> None:
        counter = f"{self.prefix}count:{key}"
        pipe = self.client.pipeline()
        pipe.incr(counter)
        pipe.expire(counter, window_seconds, nx=True)
        hits, _ = pipe.execute()
        if hits >= limit:
            pipe = self.client.pipeline()
            pipe.set(f"{self.prefix}block:{key}", 1, ex=block_seconds)
            pipe.delete(counter)
            pipe.execute()

    def reset(self, key: str) -> None:
        self.client.delete(f"{self.prefix}count:{key}", f"{self.prefix}block:{key}")


def make_rate_limiter(redis_url: str, session_factory: sessionmaker) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else DatabaseRateLimiter(session_factory)
