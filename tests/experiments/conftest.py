"""Fixtures for the experiment tests: admin and user tokens, experiments removed after use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from backend.database import SessionLocal
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
