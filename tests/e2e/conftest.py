"""Browser-test fixtures: one server on the invented catalogue and one Chromium for the session."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.browser import (
    Console,
    Server,
    api_token,
    make_driver,
    new_user,
    start_server,
    stop_server,
    wait_for_index,
)
from tests.e2e.invented_catalogue import write_catalogue


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("browser-e2e")
    catalogue = write_catalogue(root / "ml-invented")
    srv = start_server(root, catalogue)
    try:
        # The similar list and the hybrid model need the embedding index; it may still be
        # building in the background after /health turns 200.
        wait_for_index(srv, api_token(srv.base_url, f"probe_{secrets.token_hex(3)}"))
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="session")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    drv = make_driver(profile)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def console(driver: WebDriver) -> Console:
    """Browser console entries logged during this test only."""
    log = Console(driver)
    log.drain()
    log.entries.clear()
    return log


@pytest.fixture
def account(server: Server) -> tuple[str, str]:
    """A fresh user for one test: (username, token)."""
    return new_user(server)
