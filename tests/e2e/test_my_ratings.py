"""My ratings: every rating with its poster, sorted by date or rating; edit or remove in place."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from tests.e2e import browser as ui

pytestmark = ui.needs_chromium


ROWS = "#my-ratings-list .myrating"


def test_my_ratings_sort_edit_and_remove(server, driver, account, console):
    drv, token = driver, account[1]
    ui.sign_in_as(drv, server, *account, "#/my-ratings")
    ui.wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "my-ratings-summary"), "not rated any")
    )
    for movie_id, value in ((4, 3.0), (9, 5.0), (14, 1.5)):
        ui.api_rate(server, token, movie_id, value)
    drv.refresh()
    ui.wait(drv).until(lambda d: len(ui.elements(d, ROWS)) == 3)
    assert ui.movie_ids(drv, ROWS) == [14, 9, 4]  # newest first
    assert "3 ratings" in drv.find_element(By.ID, "my-ratings-summary").text
    posters = [
        r.find_element(By.TAG_NAME, "img").get_attribute("src") for r in ui.elements(drv, ROWS)
    ]
    assert posters[0].endswith("/movies/14/poster")

    Select(drv.find_element(By.ID, "my-ratings-sort")).select_by_value("rating_desc")
    ui.wait(drv).until(EC.url_contains("sort=rating_desc"))
    ui.wait(drv).until(lambda d: ui.movie_ids(d, ROWS) == [9, 4, 14])
    Select(drv.find_element(By.ID, "my-ratings-sort")).select_by_value("date_asc")
    ui.wait(drv).until(lambda d: ui.movie_ids(d, ROWS) == [4, 9, 14])

    # Edit in place: the lowest rating becomes four stars.
    row = next(r for r in ui.elements(drv, ROWS) if r.get_attribute("data-movie-id") == "14")
    row.find_element(By.CSS_SELECTOR, 'button[data-rating-value="4"]').click()
    ui.wait(drv).until(EC.text_to_be_present_in_element((By.ID, "notice"), "4 stars"))
    assert (
        row.find_element(By.CSS_SELECTOR, 'button[aria-pressed="true"]').get_attribute(
            "data-rating-value"
        )
        == "4"
    )
    saved = {r["movie"]["id"]: r["rating"] for r in ui.api_get(server, token, "/users/me/ratings")}
    assert saved == {4: 3.0, 9: 5.0, 14: 4.0}

    # Remove in place.
    row = next(r for r in ui.elements(drv, ROWS) if r.get_attribute("data-movie-id") == "9")
    row.find_element(By.CSS_SELECTOR, ".myrating-remove").click()
    ui.wait(drv).until(lambda d: len(ui.elements(d, ROWS)) == 2)
    assert "2 ratings" in drv.find_element(By.ID, "my-ratings-summary").text
    assert 9 not in {r["movie"]["id"] for r in ui.api_get(server, token, "/users/me/ratings")}

    with ui.phone_width(drv):
        ui.visible(drv, "#my-ratings-list .myrating")
        assert ui.horizontal_overflow(drv) <= 0
    console.drain()
    assert not console.severe(), console.severe()
