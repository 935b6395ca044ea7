"""The index status page says what is used for recommendations, and why posters are not."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.e2e.browser import api_get, needs_chromium, sign_in_as, visible

pytestmark = needs_chromium


def test_status_page_is_complete_and_honest(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies")
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
    # The browser tests run with random image weights: posters are embedded but not used.
    assert not api_get(server, account[1], "/embeddings/status")["image_used_for_scoring"]
    posters = drv.find_element(By.ID, "status-posters").text
    assert posters.startswith("Not used"), posters
    assert drv.find_element(By.ID, "status-text").text.startswith("Used")
    summary = drv.find_element(By.ID, "status-summary").text
    assert "not used for scoring" in summary and "text embeddings" in summary
    footer = drv.find_element(By.CSS_SELECTOR, ".site-footer").text
    assert "poster" not in footer.lower(), footer
