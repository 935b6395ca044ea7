"""Engine, session factory and the request-scoped session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from backend.config import get_settings


def make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("sqlite"):
        # A pool as wide as the request thread pool: a narrower one closes and reopens (and
        # re-runs the pragmas for) a connection on most requests under concurrent load.
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 40)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=10, max_overflow=20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _default_engine() -> Engine:
    settings = get_settings()
    if settings.resolved_database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.resolved_database_url)


engine: Engine = _default_engine()
SessionLocal = sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)


async def get_db() -> AsyncIterator[Session]:
    """FastAPI dependency: one session per request, always closed. `async def` because opening
    a session does no I/O: a plain generator would cost two thread hops a request."""
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
