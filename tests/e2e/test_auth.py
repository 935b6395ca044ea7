"""Registering (which signs you in and opens onboarding), signing out and in, and errors."""

from __future__ import annotations

import secrets

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from tests.e2e.browser import (
    PASSWORD,
    fill,
    go,
    in_viewport,
    needs_chromium,
    phone_width,
    visible,
    wait,
)

pytestmark = needs_chromium


def register(drv, server, username: str, email: str | None = None) -> None:
    drv.get(f"{server.base_url}/")
    wait(drv).until(EC.url_contains("#/login"))
    fill(drv, "#register-username", username)
    fill(drv, "#register-email", email or f"{username}@example.com")
    fill(drv, "#register-password", PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "#register-form button[type=submit]").click()


def test_register_signs_in_then_sign_out_and_in(server, driver, console):
    drv = driver
    drv.delete_all_cookies()
    drv.get(f"{server.base_url}/")
    drv.execute_script("sessionStorage.clear();")
    username = f"ui_{secrets.token_hex(4)}"
    register(drv, server, username)
    wait(drv).until(EC.text_to_be_present_in_element((By.ID, "notice"), "created"))
    wait(drv).until(EC.url_contains("#/welcome"))
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
    # Nothing so far may have logged an error (failed requests, script errors, favicon 404).
    console.drain()
    assert not console.severe(), console.severe()


def test_account_created_notice_is_visible_on_a_phone(server, driver):
    drv = driver
    with phone_width(drv):
        drv.get(f"{server.base_url}/#/login")
        drv.execute_script("sessionStorage.clear();")
        register(drv, server, f"phone_{secrets.token_hex(4)}")
        notice = wait(drv).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#notice p")))
        assert "created" in notice.text
        assert in_viewport(drv, notice), "the notice is scrolled off a 375px screen"
        drv.find_element(By.ID, "logout").click()
        wait(drv).until(EC.url_contains("#/login"))


def test_errors_show_the_api_message_and_an_invalid_token_signs_out(server, driver, console):
    drv = driver
    drv.get(f"{server.base_url}/#/login")
    drv.execute_script("sessionStorage.clear();")
    username = f"dup_{secrets.token_hex(4)}"
    register(drv, server, username)
    wait(drv).until(EC.url_contains("#/welcome"))
    drv.find_element(By.ID, "logout").click()
    wait(drv).until(EC.url_contains("#/login"))
    # The same username again: 409 with the API's own words, not a bare status code.
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
