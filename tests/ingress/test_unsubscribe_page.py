"""The unsubscribe page in a real browser (headless Chromium) at a phone's 320 px: readable
without scrolling sideways, in the member's language, usable with the keyboard alone."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import Session, select

from memberflow.core.models import Member
from memberflow.ingress.app import create_app
from tests.support.cancellations import unsubscribe_path
from tests.support.servers import AppServer


def test_a_member_unsubscribes_with_the_keyboard_on_a_phone_sized_page(browser, engine, settings):
    path = unsubscribe_path(engine, settings, "bea", locale="fr")
    with AppServer(create_app(settings)) as app:
        browser.get(app.url + path)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        assert browser.title.startswith("Se désabonner")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 320, f"the page is {width} px wide at 320"
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        focused = browser.switch_to.active_element
        assert focused.tag_name == "button" and focused.text == "Me désabonner"
        outline = browser.execute_script(
            "return getComputedStyle(document.activeElement).outlineStyle"
        )
        assert outline != "none", "the focused button must show it"
        focused.send_keys(Keys.ENTER)
        WebDriverWait(browser, 10).until(lambda b: "désabonné" in b.title)
        assert "plus d'e-mails promotionnels" in browser.find_element(By.TAG_NAME, "main").text
    with Session(engine) as session:
        bea = session.exec(select(Member).where(Member.external_id == "bea")).one()
    assert bea.unsubscribed_at is not None
