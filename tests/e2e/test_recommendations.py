"""Recommendations: both columns, change after rating, rated movies left out, true reasons, a
user-meaningful number instead of the raw score, side by side on desktop, stacked on a phone."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.e2e.browser import (
    api_get,
    horizontal_overflow,
    needs_chromium,
    phone_width,
    rate_movie,
    recommendation_ids,
    sign_in_as,
    wait,
)

pytestmark = needs_chromium


def test_recommendations_follow_ratings(server, driver, account, console):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies")
    before = recommendation_ids(drv, "rec-hybrid")
    assert before, "hybrid column is empty before rating"
    assert drv.find_elements(By.CSS_SELECTOR, "#rec-baseline .rec-item")
    heads = (
        drv.find_element(By.ID, "rec-hybrid-title").text,
        drv.find_element(By.ID, "rec-baseline-title").text,
    )
    assert heads == ("Hybrid (with embeddings)", "Baseline (no embeddings)")
    # Each column says in one sentence what it is.
    for column in ("rec-hybrid", "rec-baseline"):
        about = drv.find_element(By.ID, f"{column}-about").text
        assert about.count(".") == 1 and about.endswith("."), about

    # Rate the toy movie and the two hybrid favourites from before.
    toy = server.catalogue.toy_movie_id
    others = [m for m in before if m != toy][:2]
    assert len(others) == 2, before
    rate_movie(drv, toy, 5)
    rate_movie(drv, others[0], 5)
    rate_movie(drv, others[1], 4.5)
    rated = {toy, *others}

    after = recommendation_ids(drv, "rec-hybrid")
    assert after, "hybrid column is empty after rating"
    assert after != before, "hybrid recommendations did not change after rating three movies"
    assert not rated & set(after), f"rated movies {rated} still recommended: {after}"
    baseline_after = recommendation_ids(drv, "rec-baseline")
    assert not rated & set(baseline_after), baseline_after
    reasons = drv.find_elements(By.CSS_SELECTOR, "#rec-hybrid .rec-reason")
    assert reasons and all(r.text.strip() for r in reasons)
    # The raw blend score means nothing to a person: it is never shown. The predicted stars are.
    meta = " ".join(m.text for m in drv.find_elements(By.CSS_SELECTOR, ".rec-meta"))
    assert "score" not in meta.lower(), meta
    served = api_get(server, account[1], "/movies/recommendations?limit=10&use_embeddings=true")
    predicted = {m["id"]: m["predicted_rating"] for m in served}
    assert any(value is not None for value in predicted.values()), served
    for item in drv.find_elements(By.CSS_SELECTOR, "#rec-hybrid .rec-item"):
        stars = predicted[int(item.get_attribute("data-movie-id"))]
        shown = item.find_elements(By.CSS_SELECTOR, ".rec-expect")
        if stars is None:
            assert not shown
        else:
            assert shown[0].text == f"You'd rate it about {stars:.1f}★", shown[0].text

    # Desktop: the columns sit side by side.
    hybrid = drv.find_element(By.ID, "rec-hybrid").rect
    baseline = drv.find_element(By.ID, "rec-baseline").rect
    assert abs(hybrid["y"] - baseline["y"]) < 2 and baseline["x"] > hybrid["x"]

    # Phone width: stacked, and nothing overflows horizontally.
    with phone_width(drv):
        hybrid = drv.find_element(By.ID, "rec-hybrid").rect
        baseline = drv.find_element(By.ID, "rec-baseline").rect
        assert baseline["y"] >= hybrid["y"] + hybrid["height"] - 1
        overflow = horizontal_overflow(drv)
        assert overflow <= 0, f"page is {overflow}px wider than a 375px phone"
    wait(drv).until(lambda d: d.execute_script("return window.innerWidth") > 375)
    console.drain()
    assert not console.severe(), console.severe()
