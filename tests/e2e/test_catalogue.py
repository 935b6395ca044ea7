"""The catalogue: genre filter, pagination, lazy posters, search, a movie page, "More like this"."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from tests.e2e.browser import needs_chromium, sign_in_as, visible, wait
from tests.e2e.invented_catalogue import TOY_TITLE

pytestmark = needs_chromium


def test_genres_pages_and_lazy_posters(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies")
    visible(drv, "#movie-grid .card")
    # Genre filter is filled from /movies/genres; pagination shows "page X of Y".
    wait(drv).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#genre option")) > 1)
    genre_names = [o.text for o in drv.find_elements(By.CSS_SELECTOR, "#genre option")]
    assert "Animation" in genre_names and "Sci-Fi" in genre_names
    assert visible(drv, "#page-status").text == "Page 1 of 3"
    drv.find_element(By.ID, "page-next").click()
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "page-status"), "Page 2 of 3"))
    img = drv.find_element(By.CSS_SELECTOR, "#movie-grid .card img")
    assert img.get_attribute("loading") == "lazy" and img.get_attribute("alt")


def test_search_open_rate_and_similar(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies")
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


def test_missing_movie_message_is_shown_once(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies/999999")
    heading = visible(drv, "#movie-error h1")
    assert heading.text == "Movie not found"
    message = drv.find_element(By.CSS_SELECTOR, "#movie-error p").text
    assert message and drv.find_element(By.TAG_NAME, "body").text.count(message) == 1
