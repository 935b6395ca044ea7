"""Rating a movie on its page: saved across a reload, operable by keyboard, removable."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from tests.e2e.browser import go, needs_chromium, rate_movie, sign_in_as, wait

pytestmark = needs_chromium


def test_rating_survives_reload_and_works_by_keyboard(server, driver, account):
    drv = driver
    sign_in_as(drv, server, *account, "#/movies")
    first, second = 2, 3
    rate_movie(drv, first, 5)
    rate_movie(drv, second, 4.5)

    # A reload keeps the session and the saved rating.
    drv.refresh()
    wait(drv).until(
        EC.text_to_be_present_in_element((By.ID, "rating-text"), "Your rating: 4.5 out of 5")
    )

    # Keyboard: the rating control is reachable and operable without a mouse.
    go(drv, f"#/movies/{first}")
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
