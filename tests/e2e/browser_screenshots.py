"""Save screenshots of the web frontend for the docs (run by hand; pytest does not collect it).

Needs a running backend with a catalogue and trained models. It registers a new account (and the
same name with -phone), rates through onboarding as a newcomer would, and captures onboarding,
recommendations, my ratings, a movie page and the status page at desktop (1280 px) and phone
(375 px) widths:

    PYTHONPATH=. .venv/bin/python -m tests.e2e.browser_screenshots \\
        --base-url http://127.0.0.1:8000 \\
        --username newcomer --password 'secret-password'

writes docs/screenshots/NAME.png and NAME-phone.png. The docs' shots use a catalogue imported
without posters, so they show the placeholder poster instead of TMDB's images. The browser is
Debian Chromium (/usr/bin/chromium with /usr/bin/chromedriver); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import make_driver, movie_ids

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


def full_page_png(
    drv: WebDriver, path: Path, width: int, mobile: bool, max_height: int | None = None
) -> None:
    """Capture the whole page (or its top `max_height` pixels), not just the viewport."""
    height = drv.execute_script(
        "return Math.ceil(Math.max(document.documentElement.scrollHeight,"
        " document.body.scrollHeight))"
    )
    height = min(height, max_height) if max_height else height
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": int(height),
            "deviceScaleFactor": 1,
            "mobile": mobile,
        },
    )
    # Park the mouse in a corner so no hover state (e.g. a star preview) is captured.
    drv.execute_cdp_cmd("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 0, "y": 0})
    try:
        # Lazy images below the old fold need a moment to arrive once they are in view.
        WebDriverWait(drv, TIMEOUT_S).until(
            lambda d: d.execute_script(
                "return [...document.images]"
                ".filter(i => i.getBoundingClientRect().top < arguments[0])"
                ".every(i => i.complete)",
                height,
            )
        )
        shot = drv.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


RATINGS = [5, 4.5, 2, 4, 1.5, 5, 3, 4.5, 2.5, 4]  # what the screenshot user gives, in order
UNSEEN = (2, 7)  # onboarding cards marked "haven't seen"


def register(drv: WebDriver, wait: WebDriverWait, base_url: str, username: str, password: str):
    drv.get(f"{base_url}/#/login")
    wait.until(EC.visibility_of_element_located((By.ID, "register-username")))
    drv.find_element(By.ID, "register-username").send_keys(username)
    drv.find_element(By.ID, "register-email").send_keys(f"{username}@example.com")
    drv.find_element(By.ID, "register-password").send_keys(password)
    drv.find_element(By.CSS_SELECTOR, "#register-form button[type=submit]").click()
    wait.until(EC.url_contains("#/welcome"))


def rate_onboarding(drv: WebDriver, wait: WebDriverWait) -> None:
    """Rate the first onboarding cards (skipping a few as unseen), as a newcomer would."""
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".onboard-card")) >= 20)
    cards = drv.find_elements(By.CSS_SELECTOR, ".onboard-card")
    values = iter(RATINGS)
    for index, card in enumerate(cards[: len(RATINGS) + len(UNSEEN)]):
        if index in UNSEEN:
            card.find_element(By.CSS_SELECTOR, ".onboard-unseen").click()
            continue
        value = next(values)
        card.find_element(By.CSS_SELECTOR, f'button[data-rating-value="{value:g}"]').click()
        wait.until(lambda d, c=card: c.get_attribute("data-state") == "rated")
    drv.execute_script("window.scrollTo(0, 0)")


def wait_for_recommendations(drv: WebDriver, wait: WebDriverWait) -> None:
    for column in ("rec-hybrid", "rec-baseline"):
        wait.until(
            lambda d, c=column: (
                d.find_element(By.ID, c).get_attribute("data-state") in ("loaded", "error")
            )
        )


def take_screenshots(
    base_url: str,
    username: str,
    password: str,
    out_dir: Path,
    *,
    width: int = 1280,
    height: int = 900,
    suffix: str = "",
) -> list[Path]:
    """Register `username`, rate through onboarding, and capture the main pages."""
    mobile = width < 600
    base_url = base_url.rstrip("/")
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="movierec-shots-") as profile:
        drv = make_driver(Path(profile), (width, height), extra_args=("--hide-scrollbars",))
        if mobile:
            drv.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
            )
        wait = WebDriverWait(drv, TIMEOUT_S)

        def shot(name: str, max_height: int | None = None) -> None:
            path = out_dir / f"{name}{suffix}.png"
            full_page_png(drv, path, width, mobile, max_height)
            shots.append(path)

        try:
            register(drv, wait, base_url, username, password)
            rate_onboarding(drv, wait)
            shot("onboarding", max_height=1400 if mobile else 1100)

            drv.find_element(By.ID, "onboarding-done").click()
            wait_for_recommendations(drv, wait)
            shot("recommendations")
            first = movie_ids(drv, "#rec-hybrid .rec-item")[:1]

            drv.execute_script("location.hash = '#/my-ratings'")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#my-ratings-list .myrating"))
            shot("my-ratings")

            for movie_id in first:
                drv.execute_script("location.hash = arguments[0]", f"#/movies/{movie_id}")
                wait.until(EC.visibility_of_element_located((By.ID, "rating-stars")))
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#similar-list, #similar p"))
                shot("movie-detail")

            drv.execute_script("location.hash = '#/status'")
            wait.until(EC.visibility_of_element_located((By.ID, "status-list")))
            shot("status")
            return shots
        finally:
            drv.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--username", required=True, help="a new account to register (phone shots add -phone)"
    )
    parser.add_argument("--password", required=True, help="its password (8 characters or more)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    for width, height, suffix in ((1280, 900, ""), (375, 812, "-phone")):
        for path in take_screenshots(
            args.base_url,
            args.username + suffix,
            args.password,
            args.out,
            width=width,
            height=height,
            suffix=suffix,
        ):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
