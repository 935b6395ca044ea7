"""Browser-test plumbing: start the real backend on an invented catalogue, drive Debian Chromium
with Selenium, and small waits and actions the focused tests share. No browser or driver is ever
downloaded; tests are skipped when /usr/bin/chromium or /usr/bin/chromedriver is missing."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from backend.devserver import DevServer, run_cli
from backend.devserver import start_server as start_server_process
from tests.e2e.invented_catalogue import Catalogue
from tests.helpers import server_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="browser test needs Debian Chromium: apt-get install chromium chromium-driver "
    "(/usr/bin/chromium and /usr/bin/chromedriver)",
)

CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = (1280, 900)
PHONE = (375, 812)
HEALTH_TIMEOUT_S = 90
INDEX_TIMEOUT_S = 300
UI_TIMEOUT_S = 30
PASSWORD = "correct-horse-battery"

# --------------------------------------------------------------------------------------------
# Backend server


@dataclass
class Server:
    dev: DevServer
    catalogue: Catalogue

    @property
    def base_url(self) -> str:
        return self.dev.base_url

    @property
    def process(self):
        return self.dev.process

    def log_tail(self, chars: int = 4000) -> str:
        return self.dev.log_tail(chars)


def start_server(root: Path, catalogue: Catalogue) -> Server:
    """Migrate, import the catalogue and start uvicorn (training and index build on startup)."""
    env = server_env(
        root, transformers_offline="1", train_on_startup="true", build_index_on_startup="true"
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    try:
        run_cli(["migrate"], env)
        run_cli(["import-movielens", str(catalogue.directory)], env)
        dev = start_server_process(env, root / "server.log")
        dev.wait("/health", timeout=HEALTH_TIMEOUT_S)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return Server(dev, catalogue)


def stop_server(server: Server) -> None:
    server.dev.stop()


def api_token(base_url: str, username: str) -> str:
    """Register a throwaway API user and return a bearer token for it."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        reply = client.post(
            "/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
            },
        )
        assert reply.status_code == 201, (reply.status_code, reply.text)
        reply = client.post("/auth/login", data={"username": username, "password": PASSWORD})
        assert reply.status_code == 200, (reply.status_code, reply.text)
        return reply.json()["access_token"]


def wait_for_index(server: Server, token: str) -> dict:
    """Poll /embeddings/status until the embedding index holds at least one movie."""
    deadline = time.monotonic() + INDEX_TIMEOUT_S
    last: object = None
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"uvicorn exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            reply = httpx.get(f"{server.base_url}/embeddings/status", headers=headers, timeout=5)
            last = (reply.status_code, reply.text[:500])
            if reply.status_code == 200 and (reply.json().get("movies_in_index") or 0) > 0:
                return reply.json()
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(1)
    pytest.fail(
        f"embedding index still empty after {INDEX_TIMEOUT_S} s; last reply {last}\n"
        f"{server.log_tail()}"
    )


# --------------------------------------------------------------------------------------------
# Browser


def make_driver(
    profile_dir: Path, size: tuple[int, int] = DESKTOP, extra_args: tuple[str, ...] = ()
) -> WebDriver:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (*CHROME_ARGS, *extra_args):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


class Console:
    """Collects browser console entries (get_log drains the buffer on each call)."""

    def __init__(self, drv: WebDriver) -> None:
        self.driver = drv
        self.entries: list[dict] = []

    def drain(self) -> list[dict]:
        new = self.driver.get_log("browser")
        self.entries.extend(new)
        return new

    def severe(self, entries: list[dict] | None = None) -> list[str]:
        return [
            e["message"]
            for e in (entries if entries is not None else self.entries)
            if e.get("level") == "SEVERE"
        ]


def wait(drv: WebDriver, timeout: float = UI_TIMEOUT_S) -> WebDriverWait:
    return WebDriverWait(drv, timeout, ignored_exceptions=[StaleElementReferenceException])


def visible(drv: WebDriver, css: str, timeout: float = UI_TIMEOUT_S):
    return wait(drv, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def go(drv: WebDriver, hash_route: str) -> None:
    """Navigate inside the single-page app without reloading it."""
    drv.execute_script("window.location.hash = arguments[0];", hash_route)


def fill(drv: WebDriver, css: str, text: str) -> None:
    field = visible(drv, css)
    field.clear()
    field.send_keys(text)


def column_state(drv: WebDriver, column_id: str) -> str | None:
    return drv.find_element(By.ID, column_id).get_attribute("data-state")


def recommendation_ids(drv: WebDriver, column_id: str) -> list[int]:
    """Open the recommendations page, wait for the column and return its movie ids in order."""
    go(drv, "#/recommendations")
    for cid in ("rec-hybrid", "rec-baseline"):
        wait(drv).until(lambda d, cid=cid: column_state(d, cid) in ("loaded", "error"))
        assert column_state(drv, cid) == "loaded", drv.find_element(By.ID, cid).text
    page_text = drv.find_element(By.TAG_NAME, "main").text
    assert "undefined" not in page_text and "null" not in page_text, page_text
    return movie_ids(drv, f"#{column_id} .rec-item")


def elements(drv: WebDriver, selector: str) -> list:
    """Every element `selector` matches, in page order."""
    return drv.find_elements(By.CSS_SELECTOR, selector)


def movie_ids(drv: WebDriver, selector: str) -> list[int]:
    """The `data-movie-id` of every element `selector` matches, in page order."""
    return [int(item.get_attribute("data-movie-id")) for item in elements(drv, selector)]


def rate_movie(drv: WebDriver, movie_id: int, rating: float) -> str:
    go(drv, f"#/movies/{movie_id}")
    wait(drv).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.detail-page[data-movie-id="{movie_id}"]')
    )
    title = drv.find_element(By.ID, "movie-title").text
    star = visible(drv, f'#rating-stars button[data-rating-value="{rating:g}"]')
    star.click()
    wait(drv).until(
        EC.text_to_be_present_in_element(
            (By.ID, "rating-text"), f"Your rating: {rating:g} out of 5"
        )
    )
    assert star.get_attribute("aria-pressed") == "true"
    return title


def new_user(server: Server, prefix: str = "ui") -> tuple[str, str]:
    """A fresh account made through the API: (username, token)."""
    username = f"{prefix}_{secrets.token_hex(4)}"
    return username, api_token(server.base_url, username)


def sign_in_as(drv: WebDriver, server: Server, username: str, token: str, hash_route: str) -> None:
    """Open the app already signed in (the token the login form would have stored)."""
    drv.get(f"{server.base_url}/")  # the app's origin, to reach its storage
    drv.execute_script(
        "sessionStorage.clear();"
        "sessionStorage.setItem('movierec.token', arguments[0]);"
        "sessionStorage.setItem('movierec.user', JSON.stringify({username: arguments[1]}));",
        token,
        username,
    )
    # A new query string makes this a full load (a hash change alone would not restart the app).
    drv.get(f"{server.base_url}/?as={username}{hash_route}")
    wait(drv).until(lambda d: username in d.find_element(By.ID, "whoami").text)


def api_rate(server: Server, token: str, movie_id: int, rating: float) -> None:
    reply = httpx.put(
        f"{server.base_url}/movies/{movie_id}/rating",
        json={"rating": rating},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def api_get(server: Server, token: str, path: str):
    reply = httpx.get(
        f"{server.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


@contextmanager
def phone_width(drv: WebDriver) -> Iterator[None]:
    """Emulate a 375 px phone for the duration of the block."""
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        wait(drv).until(lambda d: d.execute_script("return window.innerWidth") == PHONE[0])
        yield
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def horizontal_overflow(drv: WebDriver) -> int:
    return drv.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def in_viewport(drv: WebDriver, element) -> bool:
    return drv.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;",
        element,
    )
