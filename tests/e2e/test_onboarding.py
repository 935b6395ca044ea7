"""First run: after registering, rate well-known movies quickly (stars or "haven't seen"), then
straight to recommendations; the page can be skipped and revisited."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.e2e.browser import (
    api_get,
    elements,
    horizontal_overflow,
    movie_ids,
    needs_chromium,
    phone_width,
    recommendation_ids,
    sign_in_as,
    visible,
    wait,
)

pytestmark = needs_chromium


CARDS = "#onboarding-grid .onboard-card"


def test_onboarding_rate_skip_and_go_to_recommendations(server, driver, account, console):
    drv, token = driver, account[1]
    sign_in_as(drv, server, *account, "#/welcome")
    wait(drv).until(lambda d: len(elements(d, CARDS)) >= 30)
    shown = movie_ids(drv, CARDS)
    # The same movies the API picks for this user, each with a poster.
    assert shown == [m["id"] for m in api_get(server, token, "/movies/onboarding")]
    first = elements(drv, CARDS)[0]
    assert (
        first.find_element(By.TAG_NAME, "img")
        .get_attribute("src")
        .endswith(f"/movies/{shown[0]}/poster")
    )
    genres = {server.catalogue.movie_genre[i] for i in shown[:10]}
    assert len(genres) == 5, genres  # varied: every genre of the catalogue in the first ten

    # Rate five movies with stars, mark two as not seen.
    values = [5, 4.5, 4, 2, 1]
    for card, value in zip(elements(drv, CARDS)[:5], values, strict=True):
        card.find_element(By.CSS_SELECTOR, f'button[data-rating-value="{value:g}"]').click()
        wait(drv).until(lambda d, card=card: card.get_attribute("data-state") == "rated")
    for card in elements(drv, CARDS)[5:7]:
        card.find_element(By.CSS_SELECTOR, ".onboard-unseen").click()
        assert card.get_attribute("data-state") == "unseen"
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "onboarding-progress"), "5 movies rated")
    )
    saved = {r["movie"]["id"]: r["rating"] for r in api_get(server, token, "/users/me/ratings")}
    assert saved == dict(zip(shown[:5], values, strict=True))

    # Straight to recommendations: personal now, and none of the rated movies.
    drv.find_element(By.ID, "onboarding-done").click()
    wait(drv).until(EC.url_contains("#/recommendations"))
    recommended = recommendation_ids(drv, "rec-hybrid")
    assert recommended and not set(shown[:5]) & set(recommended)
    assert not drv.find_elements(By.CSS_SELECTOR, "#rec-hybrid [data-fallback]")

    # Revisit: the rated and the unseen movies are not offered again.
    drv.find_element(By.CSS_SELECTOR, 'nav a[data-route="my-ratings"]').click()
    visible(drv, "#my-ratings-list .myrating")
    drv.find_element(By.LINK_TEXT, "Rate more movies").click()
    wait(drv).until(lambda d: len(elements(d, CARDS)) >= 20)
    assert not set(shown[:7]) & set(movie_ids(drv, CARDS))
    # "Show more movies" adds other movies.
    before = set(movie_ids(drv, CARDS))
    visible(drv, "#onboarding-more").click()
    wait(drv).until(lambda d: len(elements(d, CARDS)) > len(before))
    assert len(set(movie_ids(drv, CARDS))) == len(elements(drv, CARDS))
    console.drain()
    assert not console.severe(), console.severe()


def test_onboarding_can_be_skipped_and_fits_a_phone(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/welcome")
    with phone_width(drv):
        wait(drv).until(lambda d: len(elements(d, CARDS)) >= 30)
        assert horizontal_overflow(drv) <= 0
        first = elements(drv, CARDS)[0]
        star = first.find_element(By.CSS_SELECTOR, 'button[data-rating-value="5"]')
        assert star.is_displayed() and star.rect["x"] + star.rect["width"] <= 375
    drv.find_element(By.ID, "onboarding-skip").click()
    wait(drv).until(EC.url_contains("#/movies"))
    visible(drv, "#movie-grid .card")
