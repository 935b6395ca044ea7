"""The admin experiment report page (variants, intervals, SVG charts, the winner) and the
click and detail-view events the recommendations page sends."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By

from backend.devserver import clean_env, run_cli
from tests.e2e.browser import (
    PASSWORD,
    go,
    needs_chromium,
    new_user,
    sign_in_as,
    visible,
    wait,
)

pytestmark = needs_chromium


def _counter(server, name: str, label: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and label in line
    )


def _admin(server) -> tuple[str, dict]:
    """An admin made with the CLI on the server's database: (username, headers)."""
    root = server.dev.log_path.parent
    env = clean_env(database_url=f"sqlite:///{root / 'app.db'}", data_dir=str(root / "data"))
    run_cli(["create-admin", "ui-admin", "--password", PASSWORD], env)
    reply = httpx.post(
        f"{server.base_url}/auth/login",
        data={"username": "ui-admin", "password": PASSWORD},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return "ui-admin", {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_clicks_and_detail_views_are_sent(server, driver, account, console):
    clicks = _counter(server, "feedback_events_total", 'kind="click"')
    views = _counter(server, "feedback_events_total", 'kind="detail_view"')
    sign_in_as(driver, server, *account, "#/recommendations")
    link = visible(driver, "#rec-hybrid .rec-item .rec-title")
    movie_id = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    wait(driver).until(lambda d: d.execute_script("return location.hash") == f"#/movies/{movie_id}")
    visible(driver, "#rating-stars")
    wait(driver, 10).until(
        lambda _: _counter(server, "feedback_events_total", 'kind="detail_view"') == views + 1
    )
    assert _counter(server, "feedback_events_total", 'kind="click"') == clicks + 1
    console.drain()
    assert not console.severe(), console.severe()


def test_report_page_shows_variants_intervals_and_winner(server, driver, console):
    username, admin = _admin(server)
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        body = {
            "name": "ui-check",
            "variants": [
                {"name": "hybrid", "share": 1, "method": "hybrid"},
                {"name": "baseline", "share": 1, "method": "popularity"},
            ],
        }
        assert client.post("/admin/experiments", json=body, headers=admin).status_code == 201
        assert client.post("/admin/experiments/ui-check/start", headers=admin).status_code == 200
        for _ in range(6):
            _, token = new_user(server, "exp")
            headers = {"Authorization": f"Bearer {token}"}
            reply = client.get("/movies/recommendations?limit=5", headers=headers)
            first = reply.json()[0]
            event = {"request_id": first["request_id"], "movie_id": first["id"], "kind": "click"}
            assert client.post("/events", json=event, headers=headers).status_code == 201
        client.post("/admin/experiments/ui-check/stop", headers=admin)
        token = admin["Authorization"].split()[1]
    sign_in_as(driver, server, username, token, "#/experiments")
    row = visible(driver, '#experiments-table tr[data-experiment="ui-check"]')
    assert "stopped" in row.text
    row.find_element(By.LINK_TEXT, "ui-check").click()
    visible(driver, "#report-table")
    variants = driver.find_elements(By.CSS_SELECTOR, "#report-table tbody tr")
    assert [v.get_attribute("data-variant") for v in variants] == ["hybrid", "baseline"]
    assert all("[" in v.text for v in variants)  # values with their intervals
    charts = driver.find_elements(By.CSS_SELECTOR, ".chart-figure svg.chart")
    assert len(charts) == 8  # four metrics, by variant and as a difference
    assert driver.find_elements(By.CSS_SELECTOR, ".chart-figure svg circle")
    assert visible(driver, "#experiment-verdict").text
    go(driver, "#/experiments")
    visible(driver, "#experiment-form")
    console.drain()
    assert not console.severe(), console.severe()
