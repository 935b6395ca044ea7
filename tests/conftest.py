"""Test fixtures: a migrated database per session (SQLite file, or TEST_DATABASE_URL for
PostgreSQL) and a small generated MovieLens-style catalogue.

- `db`: a session inside one connection-level transaction that is rolled back after the test;
  the code under test may commit (each commit only ends a SAVEPOINT), nothing stays behind.
- `committed_db`: empty tables and a session whose commits are real, for tests whose data must
  be seen by other connections or processes (servers, CLI subprocesses, worker threads).
- `loaded` / `client`: per module, the catalogue imported and committed, models trained and the
  index built, and a TestClient on the app (requests use their own committed sessions).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set once per test session (importing this module again must not move the database).
if "MOVIEREC_TEST_TMP" not in os.environ:
    os.environ["MOVIEREC_TEST_TMP"] = tempfile.mkdtemp(prefix="movierec-tests-")
_TMP = Path(os.environ["MOVIEREC_TEST_TMP"])
os.environ.setdefault("ENV", "test")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
os.environ["DATA_DIR"] = str(_TMP / "data")
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP}/test.db"
os.environ.update(
    {
        "SCHEDULER_ENABLED": "false",
        "TRAIN_ON_STARTUP": "false",
        "BUILD_INDEX_ON_STARTUP": "false",
        "IMAGE_RANDOM_WEIGHTS": "true",
        "IMAGE_WEIGHTS_DOWNLOAD": "false",
        "HF_HUB_OFFLINE": "1",
        "EMBEDDING_DEVICE": "cpu",
        "SVD_N_FACTORS": "20",
        "SVD_N_EPOCHS": "15",
        "MODEL_RELOAD_CHECK_SECONDS": "0",
        "LOGIN_MAX_FAILURES": "5",
    }
)
# The suite signs up many users from one test client; limits are tested with their own apps.
os.environ.update({"REGISTRATIONS_PER_ADDRESS": "100000", "LOGIN_ADDRESS_MAX_FAILURES": "100000"})
os.environ.pop("REDIS_URL", None)

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from backend.cli import migrate  # noqa: E402
from backend.config import get_settings  # noqa: E402
from backend.database import SessionLocal, engine, make_engine  # noqa: E402
from tests.helpers import empty_tables, write_catalogue  # noqa: E402


@pytest.fixture(scope="session")
def settings():
    return get_settings()


@pytest.fixture(scope="session", autouse=True)
def _schema() -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate()
    yield


def clear_tables() -> None:
    empty_tables("ratings", "movies", "users", "jobs", "rate_limit_counters")


@pytest.fixture(scope="session")
def rollback_engine():
    """An engine for rolled-back tests. pysqlite's own transaction handling breaks SAVEPOINTs,
    so on SQLite this engine issues BEGIN itself (SQLAlchemy's documented recipe)."""
    test_engine = make_engine(os.environ["DATABASE_URL"])
    if test_engine.dialect.name == "sqlite":

        @event.listens_for(test_engine, "connect")
        def _no_implicit_transactions(dbapi_connection, _record) -> None:  # noqa: ANN001
            dbapi_connection.isolation_level = None

        @event.listens_for(test_engine, "begin")
        def _begin(conn) -> None:  # noqa: ANN001
            conn.exec_driver_sql("BEGIN")

    yield test_engine
    test_engine.dispose()


@pytest.fixture
def db(rollback_engine) -> Iterator[Session]:
    connection = rollback_engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        autoflush=False,
        expire_on_commit=False,
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def committed_db() -> Iterator[Session]:
    clear_tables()
    session = SessionLocal()
    try:
        yield session
    finally:
        session.close()
        clear_tables()


@pytest.fixture(scope="session")
def catalogue_dir() -> Path:
    return write_catalogue(_TMP / "catalogue")


@pytest.fixture(scope="module")
def loaded(catalogue_dir):
    """Catalogue imported, models trained and the index built; yields the runtime."""
    from backend.services.importer import import_movielens
    from backend.services.recommender_runtime import RecommenderRuntime, reset_runtime

    clear_tables()
    settings = get_settings()
    with SessionLocal() as session:
        import_movielens(session, catalogue_dir, metadata=catalogue_dir / "metadata.csv")
    runtime = RecommenderRuntime(settings)
    with SessionLocal() as session:
        runtime.build_index(session)
        runtime.train(session)
    reset_runtime(runtime)
    yield runtime
    reset_runtime(None)
    clear_tables()


@pytest.fixture(scope="module")
def client(loaded):
    from fastapi.testclient import TestClient

    from backend.main import create_app

    app = create_app(get_settings(), runtime=loaded)
    with TestClient(app) as test_client:
        yield test_client
