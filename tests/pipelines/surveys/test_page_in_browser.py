"""The survey in a real browser (headless Debian Chromium): the invitation goes through the real
pipeline to an SMTP receiver; the member opens a link, finds the answer chosen, writes a
comment and submits with the keyboard alone; in English on a laptop, in French on a 320 px
phone. axe-core must find no serious or critical accessibility problem. Screenshots go to
test-artifacts/."""

import email
from email import policy
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import Session, select

from blocks.outputs.smtp import SmtpOutput
from memberflow.core.feedback import REASONS
from memberflow.core.models import SurveyResponse
from memberflow.ingress.app import create_app
from tests.support.browser import accessibility_violations, screenshot
from tests.support.cancellations import cancel
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import AppServer, SmtpSink, smtp_server
from tests.support.surveys import links, survey_day


def invitation_by_smtp(engine, settings, locale: str) -> str:
    """The exit survey's text as the member's mail client receives it."""
    add_subscription(
        engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada", locale=locale
    )
    cancel(engine, "s1", at("2026-12-01 09:00"))
    sink = SmtpSink()
    controller = smtp_server(sink)
    try:
        output = SmtpOutput(
            host="127.0.0.1", port=controller.port, security="none", from_address="b@club.example"
        )
        survey_day(engine, settings, at("2026-12-02 10:00"), output)
    finally:
        controller.stop()
    [(_, _, raw)] = sink.messages
    return email.message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "locale,width,reason,comment",
    [
        ("en", 1024, "missing_features", "I needed a mobile app"),
        ("fr", 320, "too_complex", "Trop de réglages à mon goût"),
    ],
)
def test_a_member_answers_the_exit_survey_with_the_keyboard(
    browser, engine, settings, locale, width, reason, comment
):
    text = invitation_by_smtp(engine, settings, locale)
    path = urlsplit(links(text)[REASONS.index(reason)]).path  # links come in this order
    browser.set_window_size(width, 900)
    with AppServer(create_app(settings)) as app:
        browser.get(app.url + path)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
        chosen = browser.find_element(By.CSS_SELECTOR, f'input[value="{reason}"]')
        assert chosen.is_selected()
        legend = browser.find_element(By.TAG_NAME, "legend").text
        assert legend in ("What made you leave?", "Qu'est-ce qui vous a fait partir ?")
        wide = browser.execute_script("return document.documentElement.scrollWidth")
        assert wide <= width, f"{wide} px wide in a {width} px window"
        assert accessibility_violations(browser) == []
        screenshot(browser, f"survey-{locale}-{width}px-asked")

        # keyboard only: from the chosen answer, Tab to the comment, type, Tab to the button
        chosen.send_keys(Keys.TAB)
        box = browser.switch_to.active_element
        assert box.get_attribute("id") == "comment"
        box.send_keys(comment)
        box.send_keys(Keys.TAB)
        button = browser.switch_to.active_element
        assert button.tag_name == "button"
        outline = browser.execute_script(
            "return getComputedStyle(arguments[0]).outlineStyle", button
        )
        assert outline != "none", "focus must be visible"
        button.send_keys(Keys.ENTER)
        WebDriverWait(browser, 10).until(lambda b: 'role="status"' in b.page_source)
        assert accessibility_violations(browser) == []
        screenshot(browser, f"survey-{locale}-{width}px-thanks")
    with Session(engine) as session:
        [response] = session.exec(select(SurveyResponse)).all()
    assert (response.answer, response.comment, response.opens) == (reason, comment, 1)
