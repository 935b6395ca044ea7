"""End-to-end browser test: the real backend, a tiny invented catalogue and Debian Chromium.

The module builds a MovieLens-format catalogue in a temporary directory (never the real data),
migrates and imports it with `backend.cli`, starts uvicorn on a free port and drives the web
frontend with Selenium. It is skipped when /usr/bin/chromium or /usr/bin/chromedriver is missing;
no browser or driver is ever downloaded.
"""

from __future__ import annotations

import csv
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from backend.config import Settings
from tests.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
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
# Invented catalogue in MovieLens ml-latest-small format

GENRE_TITLES = {
    "Sci-Fi": [
        "Space Saga",
        "Star Voyage",
        "Orbit Station",
        "Quantum Drift",
        "Nebula Run",
        "Robot Dawn",
    ],
    "Comedy": [
        "Office Mixup",
        "Wedding Chaos",
        "Road Trip Blues",
        "Uncle Frank",
        "Pizza Night",
        "Lucky Socks",
    ],
    "Drama": [
        "Silent River",
        "Winter Letters",
        "The Long Road",
        "Broken Bridges",
        "Paper Hearts",
        "Quiet Harbour",
    ],
    "Action": [
        "Iron Fist",
        "Night Chase",
        "Burning Point",
        "Steel Rain",
        "Final Strike",
        "Rogue Pursuit",
    ],
    "Animation": [
        "Paper Dragons",
        "Little Cloud",
        "Forest Friends",
        "Magic Kite",
        "Pebble Town",
        "Moon Bunny",
    ],
}
SECOND_GENRE = {
    "Sci-Fi": "Adventure",
    "Comedy": "Romance",
    "Drama": "Romance",
    "Action": "Thriller",
    "Animation": "Children",
}
TOY_TITLE = "Toy Parade"


@dataclass
class Catalogue:
    directory: Path
    movie_genre: dict[int, str]  # movieId -> primary genre
    toy_movie_id: int


def write_catalogue(directory: Path, *, seed: int = 7) -> Catalogue:
    """Write movies.csv, ratings.csv and links.csv (60 movies, 30 users with clear tastes)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    movies: list[tuple[int, str, str]] = []
    movie_genre: dict[int, str] = {}
    movie_id = 1
    for genre, bases in GENRE_TITLES.items():
        for i in range(12):
            base = bases[i % len(bases)]
            title = f"{base} {i // len(bases) + 2} ({1980 + (movie_id * 7) % 40})"
            genres = genre if i % 3 else f"{genre}|{SECOND_GENRE[genre]}"
            movies.append((movie_id, title, genres))
            movie_genre[movie_id] = genre
            movie_id += 1
    # Replace one animation title with the movie the test searches for.
    toy_movie_id = next(m for m, g in movie_genre.items() if g == "Animation")
    movies[toy_movie_id - 1] = (toy_movie_id, f"{TOY_TITLE} (1995)", "Animation|Children|Comedy")

    with (directory / "movies.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(movies)
    with (directory / "links.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "imdbId", "tmdbId"])
        for mid, _, _ in movies:
            writer.writerow([mid, f"{900000 + mid:07d}", 800000 + mid])

    genres = list(GENRE_TITLES)
    ratings = []
    timestamp = 1_500_000_000
    for user_id in range(1, 31):
        liked = {genres[user_id % len(genres)]}
        if user_id % 3 == 0:
            liked.add(genres[(user_id + 2) % len(genres)])
        for mid, genre in movie_genre.items():
            if genre in liked:
                if rng.random() < 0.8:
                    ratings.append((user_id, mid, rng.choice([4.0, 4.5, 5.0]), timestamp))
            elif rng.random() < 0.25:
                ratings.append((user_id, mid, rng.choice([1.0, 1.5, 2.0, 2.5]), timestamp))
            timestamp += 37
    with (directory / "ratings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        writer.writerows(ratings)
    return Catalogue(directory, movie_genre, toy_movie_id)


# --------------------------------------------------------------------------------------------
# Backend server


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    catalogue: Catalogue

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def server_env(root: Path) -> dict[str, str]:
    """Environment for the CLI and uvicorn: only our settings, none inherited (conftest.py sets
    some for the in-process API tests, e.g. no training or index build on startup)."""
    settings_vars = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in settings_vars}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{root / 'app.db'}",
            "DATA_DIR": str(root / "data"),
            "ENV": "test",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SCHEDULER_ENABLED": "false",
            "IMAGE_RANDOM_WEIGHTS": "true",
            "IMAGE_WEIGHTS_DOWNLOAD": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TRAIN_ON_STARTUP": "true",
            "BUILD_INDEX_ON_STARTUP": "true",
            "EMBEDDING_DEVICE": "cpu",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_cli(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`backend.cli {' '.join(args)}` exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )


def start_server(root: Path, catalogue: Catalogue) -> Server:
    env = server_env(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    run_cli(["migrate"], env)
    run_cli(["import-movielens", str(catalogue.directory)], env)
    port = free_port()
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path, catalogue)
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            pytest.fail(f"/health not 200 within {HEALTH_TIMEOUT_S} s:\n{server.log_tail()}")
        time.sleep(0.5)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


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


@pytest.fixture(scope="module")
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


# --------------------------------------------------------------------------------------------
# Browser


def make_driver(profile_dir: Path, size: tuple[int, int] = DESKTOP) -> WebDriver:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    drv = make_driver(profile)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
    items = drv.find_elements(By.CSS_SELECTOR, f"#{column_id} .rec-item")
    return [int(item.get_attribute("data-movie-id")) for item in items]


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


def test_user_journey(server: Server, driver: WebDriver) -> None:
    drv = driver
    console = Console(drv)
    username = f"ui_{secrets.token_hex(4)}"

    # --- register (which signs you in), sign out, then sign in --------------------------------
    drv.get(f"{server.base_url}/")
    wait(drv).until(EC.url_contains("#/login"))
    fill(drv, "#register-username", username)
    fill(drv, "#register-email", f"{username}@example.com")
    fill(drv, "#register-password", PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "#register-form button[type=submit]").click()
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "notice"), "created"))
    assert username in drv.find_element(By.ID, "whoami").text
    drv.find_element(By.ID, "logout").click()
    wait(drv).until(EC.url_contains("#/login"))
    fill(drv, "#login-username", username)
    fill(drv, "#login-password", PASSWORD)
    drv.find_element(By.ID, "login-password").send_keys(Keys.ENTER)
    wait(drv).until(EC.url_contains("#/movies"))
    visible(drv, "#movie-grid .card")
    assert username in drv.find_element(By.ID, "whoami").text
    token = drv.execute_script("return sessionStorage.getItem('movierec.token');")
    assert token

    # Genre filter is filled from /movies/genres; pagination shows "page X of Y".
    wait(drv).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#genre option")) > 1)
    genre_names = [o.text for o in drv.find_elements(By.CSS_SELECTOR, "#genre option")]
    assert "Animation" in genre_names and "Sci-Fi" in genre_names
    assert visible(drv, "#page-status").text == "Page 1 of 3"
    drv.find_element(By.ID, "page-next").click()
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "page-status"), "Page 2 of 3"))
    img = drv.find_element(By.CSS_SELECTOR, "#movie-grid .card img")
    assert img.get_attribute("loading") == "lazy" and img.get_attribute("alt")

    # --- recommendations before rating (both columns) ----------------------------------------
    before = recommendation_ids(drv, "rec-hybrid")
    assert before, "hybrid column is empty before rating"
    assert drv.find_elements(By.CSS_SELECTOR, "#rec-baseline .rec-item")
    heads = (
        drv.find_element(By.ID, "rec-hybrid-title").text,
        drv.find_element(By.ID, "rec-baseline-title").text,
    )
    assert heads == ("Hybrid (with embeddings)", "Baseline (no embeddings)")

    # --- search for "Toy" and rate it ----------------------------------------------------------
    drv.find_element(By.CSS_SELECTOR, 'nav a[data-route="movies"]').click()
    search = visible(drv, "#search")
    search.clear()
    search.send_keys("Toy", Keys.ENTER)
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "result-summary"), "of 1 movie"))
    card = visible(drv, f'#movie-grid .card[data-movie-id="{server.catalogue.toy_movie_id}"]')
    assert TOY_TITLE in card.text
    card.find_element(By.TAG_NAME, "a").click()
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "movie-title"), TOY_TITLE))
    visible(drv, '#rating-stars button[data-rating-value="5"]').click()
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "rating-text"), "Your rating: 5 out of 5")
    )

    # "More like this" lists at least one other movie.
    similar = visible(drv, "#similar-list .card")
    assert int(similar.get_attribute("data-movie-id")) != server.catalogue.toy_movie_id

    # --- rate two more movies (the two hybrid favourites from before) ---------------------------
    others = [m for m in before if m != server.catalogue.toy_movie_id][:2]
    assert len(others) == 2, before
    rate_movie(drv, others[0], 5)
    rate_movie(drv, others[1], 4.5)
    rated = {server.catalogue.toy_movie_id, *others}

    # A reload keeps the session and the saved rating.
    drv.refresh()
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "rating-text"), "Your rating: 4.5 out of 5")
    )

    # --- recommendations after rating ---------------------------------------------------------
    after = recommendation_ids(drv, "rec-hybrid")
    assert after, "hybrid column is empty after rating"
    assert after != before, "hybrid recommendations did not change after rating three movies"
    assert not rated & set(after), f"rated movies {rated} still recommended: {after}"
    baseline_after = recommendation_ids(drv, "rec-baseline")
    assert not rated & set(baseline_after), baseline_after
    reasons = drv.find_elements(By.CSS_SELECTOR, "#rec-hybrid .rec-reason")
    assert reasons and all(r.text.strip() for r in reasons)

    # Desktop: the columns sit side by side.
    hybrid = drv.find_element(By.ID, "rec-hybrid").rect
    baseline = drv.find_element(By.ID, "rec-baseline").rect
    assert abs(hybrid["y"] - baseline["y"]) < 2 and baseline["x"] > hybrid["x"]

    # Phone width: stacked, and nothing overflows horizontally.
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": PHONE[0],
            "height": PHONE[1],
            "deviceScaleFactor": 2,
            "mobile": True,
        },
    )
    try:
        wait(drv).until(lambda d: d.execute_script("return window.innerWidth") == PHONE[0])
        hybrid = drv.find_element(By.ID, "rec-hybrid").rect
        baseline = drv.find_element(By.ID, "rec-baseline").rect
        assert baseline["y"] >= hybrid["y"] + hybrid["height"] - 1
        overflow = drv.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"page is {overflow}px wider than a 375px phone"
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    # --- index status page -----------------------------------------------------------------
    drv.find_element(By.CSS_SELECTOR, 'nav a[data-route="status"]').click()
    status = visible(drv, "#status-list")
    for label in (
        "Coverage",
        "Movies in index",
        "Poster coverage",
        "Device",
        "Built at",
        "Text embeddings",
        "Poster embeddings",
    ):
        assert label in status.text
    assert "undefined" not in status.text and "null" not in status.text, status.text

    # Keyboard: the rating control is reachable and operable without a mouse.
    go(drv, f"#/movies/{others[0]}")
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "rating-text"), "Your rating: 5 out of 5")
    )
    focused = drv.find_element(By.CSS_SELECTOR, '#rating-stars button[tabindex="0"]')
    assert focused.get_attribute("data-rating-value") == "5"
    focused.send_keys(Keys.ARROW_LEFT)
    active = drv.switch_to.active_element
    assert active.get_attribute("data-rating-value") == "4.5"
    active.send_keys(Keys.ENTER)
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "rating-text"), "Your rating: 4.5 out of 5")
    )
    drv.find_element(By.ID, "rating-remove").click()
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "rating-text"), "not rated"))

    # Nothing so far may have logged an error (failed requests, script errors, favicon 404).
    console.drain()
    assert not console.severe(), console.severe()

    # --- error handling (these requests fail on purpose) -------------------------------------
    drv.find_element(By.ID, "logout").click()
    wait(drv).until(EC.url_contains("#/login"))
    fill(drv, "#register-username", username)
    fill(drv, "#register-email", f"other_{username}@example.com")
    fill(drv, "#register-password", PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "#register-form button[type=submit]").click()
    alert = visible(drv, "#alert p")
    assert alert.text.strip() and "HTTP" not in alert.text  # the API's own `detail` words

    # An invalid token: the next request gets 401, the token is dropped, the login form shows.
    drv.execute_script("sessionStorage.setItem('movierec.token', 'not-a-valid-token');")
    go(drv, "#/recommendations")
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "alert"), "sign in again"))
    assert "#/login" in drv.current_url
    assert drv.execute_script("return sessionStorage.getItem('movierec.token');") is None

    unexpected = [
        m
        for m in console.severe(console.drain())
        if "status of 409" not in m and "status of 401" not in m
    ]
    assert not unexpected, unexpected
