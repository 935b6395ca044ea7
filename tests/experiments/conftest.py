"""Fixtures for the experiment tests: admin and user tokens, experiments removed after use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, text

from backend.database import SessionLocal, engine
from backend.models import Experiment
from backend.services.experiments import forget_running
from backend.services.users import set_admin
from tests.helpers import register_and_login


def remove_experiments() -> None:
    with SessionLocal() as db:
        db.execute(delete(Experiment))
        db.commit()
    forget_running()


@pytest.fixture
def experiments_cleanup() -> Iterator[None]:
    remove_experiments()
    yield
    remove_experiments()


@pytest.fixture(scope="module")
def admin_headers(client) -> dict:
    with SessionLocal() as db:
        set_admin(db, "ab-admin", "ab-admin@example.com", "admin-password-1")
    return register_and_login(client, "ab-admin", "admin-password-1")


def clear_all() -> None:
    """Empty every table this folder's tests fill (the shared fixtures know only three)."""
    tables = (
        "feedback_events",
        "impression_items",
        "impressions",
        "experiment_variants",
        "experiments",
        "ratings",
        "movies",
        "users",
    )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    forget_running()
