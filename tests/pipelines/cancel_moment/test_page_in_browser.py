"""The cancel page in a real browser (headless Debian Chromium), in the four languages at 320
and 1024 px: the way out visible without scrolling on a phone, nothing wider than the window,
axe-core clean on every screen, the keyboard alone enough, and the clicks from the link to a
completed cancellation counted: at most 2 with no reason given, at most 3 with a reason and the
alternative declined. Screenshots go to test-artifacts/."""

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from memberflow.core.models import CancelVisit
from memberflow.ingress.app import create_app
from tests.support.browser import accessibility_violations, screenshot
from tests.support.cancel_page import manage_link
from tests.support.servers import AppServer

ALTERNATIVES = {"*": {"unused": {"kind": "pause", "months": 1}}}
DONE = {
    "en": "Your membership ends on December 20, 2026",
    "fr": "Votre abonnement prend fin le 20 décembre 2026",
    "es": "Tu suscripción termina el 20 de diciembre de 2026",
    "de": "Ihre Mitgliedschaft endet am 20. Dezember 2026",
}


@pytest.fixture
def app(settings, monkeypatch):
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps(ALTERNATIVES))
    with AppServer(create_app(settings)) as server:
        yield server


def check_screen(browser, width: int, name: str) -> None:
    wide = browser.execute_script("return document.documentElement.scrollWidth")
    assert wide <= width, f"{name}: {wide} px wide in a {width} px window"
    assert accessibility_violations(browser) == [], name
    screenshot(browser, name)


def decision(engine) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        return conn.execute(select(CancelVisit.decision, CancelVisit.reason)).one()


@pytest.mark.parametrize("width", [320, 1024])
@pytest.mark.parametrize("locale", ["en", "fr", "es", "de"])
def test_a_reason_and_the_alternative_declined_cancel_in_three_clicks(
    browser, app, engine, settings, locale, width
):
    browser.set_window_size(width, 800)
    browser.get(app.url + manage_link(engine, settings, locale=locale))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    first = browser.find_elements(By.CSS_SELECTOR, "button[type=submit]")[0]
    bottom = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", first)
    assert bottom <= 800, f"the way out is below the fold ({bottom} px)"
    assert not browser.find_elements(By.CSS_SELECTOR, "input:checked")  # nothing pre-ticked
    check_screen(browser, width, f"cancel-{locale}-{width}px-1-start")
    clicks = 0
    browser.find_element(By.CSS_SELECTOR, 'input[value="unused"]').click()
    clicks += 1
    first.click()
    clicks += 1
    WebDriverWait(browser, 10).until(lambda b: "/decide" in b.page_source)
    buttons = browser.find_elements(By.CSS_SELECTOR, "button[name=choice]")
    assert [b.get_attribute("value") for b in buttons] == ["cancel", "accept"]  # one option
    sizes = {(b.size["height"], b.value_of_css_property("background-color")) for b in buttons}
    assert len(sizes) == 1, f"the two choices differ in weight: {sizes}"
    check_screen(browser, width, f"cancel-{locale}-{width}px-2-confirm")
    buttons[0].click()  # "No thanks, cancel"
    clicks += 1
    WebDriverWait(browser, 10).until(lambda b: 'role="status"' in b.page_source)
    assert DONE[locale] in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    check_screen(browser, width, f"cancel-{locale}-{width}px-3-done")
    assert clicks <= 3
    assert decision(engine) == ("cancel", "unused")


@pytest.mark.parametrize("locale,width", [("en", 320), ("de", 1024)])
def test_the_keyboard_alone_cancels_in_two_presses_without_a_reason(
    browser, app, engine, settings, locale, width
):
    browser.set_window_size(width, 800)
    browser.get(app.url + manage_link(engine, settings, locale=locale))
    presses = 0
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    button = browser.switch_to.active_element
    assert button.tag_name == "button", "the way out is the first thing the keyboard reaches"
    outline = browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", button)
    assert outline != "none", "focus must be visible"
    button.send_keys(Keys.ENTER)
    presses += 1
    WebDriverWait(browser, 10).until(lambda b: "/decide" in b.page_source)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    confirm = browser.switch_to.active_element
    assert confirm.get_attribute("value") == "cancel"
    confirm.send_keys(Keys.ENTER)
    presses += 1
    WebDriverWait(browser, 10).until(lambda b: 'role="status"' in b.page_source)
    assert DONE[locale] in browser.page_source
    assert presses <= 2
    assert decision(engine) == ("cancel", None)


@pytest.mark.parametrize("locale", ["en", "fr", "es", "de"])
def test_accepting_the_alternative_and_a_dead_link_read_well_on_a_phone(
    browser, app, engine, settings, locale
):
    from tests.support.cancel_page import expired_link

    browser.set_window_size(320, 800)
    path = manage_link(engine, settings, locale=locale)
    browser.get(app.url + path)
    browser.find_element(By.CSS_SELECTOR, 'input[value="unused"]').click()
    browser.find_elements(By.CSS_SELECTOR, "button[type=submit]")[0].click()
    WebDriverWait(browser, 10).until(lambda b: "/decide" in b.page_source)
    browser.find_element(By.CSS_SELECTOR, "button[value=accept]").click()
    WebDriverWait(browser, 10).until(lambda b: 'role="status"' in b.page_source)
    check_screen(browser, 320, f"cancel-{locale}-320px-paused")
    assert decision(engine) == ("pause", "unused")
    browser.get(app.url + expired_link(engine, settings, "ada", "s1"))
    assert browser.find_element(By.TAG_NAME, "h1").text  # a page that says so, not an error
    check_screen(browser, 320, f"cancel-{locale}-320px-expired-link")
