"""Save screenshots of the web frontend for the docs (run by hand; pytest does not collect it).

Needs a running backend and an existing account that has rated a few movies:

    .venv/bin/python tests/e2e/browser_screenshots.py --base-url http://127.0.0.1:8000 \\
        --username alice --password 'secret-password'

writes docs/screenshots/recommendations.png and docs/screenshots/movie-detail.png. The browser is
Debian Chromium (/usr/bin/chromium with /usr/bin/chromedriver); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEOUT_S = 60


def make_driver(profile_dir: str, width: int, height: int) -> WebDriver:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def full_page_png(drv: WebDriver, path: Path, width: int, mobile: bool) -> None:
    """Capture the whole page, not just the viewport."""
    height = drv.execute_script(
        "return Math.ceil(Math.max(document.documentElement.scrollHeight,"
        " document.body.scrollHeight))"
    )
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
            lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
        )
        shot = drv.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
            },
        )
    finally:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def take_screenshots(
    base_url: str,
    username: str,
    password: str,
    out_dir: Path,
    *,
    movie_id: int | None = None,
    width: int = 1280,
    height: int = 900,
    suffix: str = "",
) -> list[Path]:
    mobile = width < 600
    with tempfile.TemporaryDirectory(prefix="movierec-shots-") as profile:
        drv = make_driver(profile, width, height)
        if mobile:
            drv.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": True,
                },
            )
        wait = WebDriverWait(drv, TIMEOUT_S)
        try:
            drv.get(f"{base_url.rstrip('/')}/#/login")
            wait.until(EC.visibility_of_element_located((By.ID, "login-username")))
            drv.find_element(By.ID, "login-username").send_keys(username)
            drv.find_element(By.ID, "login-password").send_keys(password)
            drv.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
            wait.until(EC.url_contains("#/movies"))

            drv.execute_script("location.hash = '#/recommendations'")
            for column in ("rec-hybrid", "rec-baseline"):
                wait.until(
                    lambda d, c=column: (
                        d.find_element(By.ID, c).get_attribute("data-state") in ("loaded", "error")
                    )
                )
            first = drv.find_elements(By.CSS_SELECTOR, "#rec-hybrid .rec-item")
            recs = out_dir / f"recommendations{suffix}.png"
            full_page_png(drv, recs, width, mobile)

            if movie_id is None:
                if not first:
                    raise SystemExit("no recommendations to open; pass --movie-id")
                movie_id = int(first[0].get_attribute("data-movie-id"))
            drv.execute_script("location.hash = arguments[0]", f"#/movies/{movie_id}")
            wait.until(EC.visibility_of_element_located((By.ID, "rating-stars")))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#similar-list, #similar p"))
            detail = out_dir / f"movie-detail{suffix}.png"
            full_page_png(drv, detail, width, mobile)
            return [recs, detail]
        finally:
            drv.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument(
        "--movie-id",
        type=int,
        help="movie for the detail shot (default: the first hybrid recommendation)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--suffix", default="", help="added to the file names, e.g. -phone")
    args = parser.parse_args(argv)
    for path in take_screenshots(
        args.base_url,
        args.username,
        args.password,
        args.out,
        movie_id=args.movie_id,
        width=args.width,
        height=args.height,
        suffix=args.suffix,
    ):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
