"""Every billing reminder says how to cancel (California's AB 2863: renewal, annual and trial-end
notices carry a link that reaches cancellation directly): each step in each language, in its
plain text and its HTML, carries the member's own signed cancel-page link, and following it
cancels in two clicks."""

import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from memberflow.core.models import CancelVisit
from memberflow.core.settings import PROJECT_ROOT
from memberflow.ingress.app import create_app
from memberflow.messaging.rendering import Renderer, TemplateProblem, business_fields
from memberflow.pipelines.reminders.pipeline import ReminderPipeline, sample_fields
from memberflow.pipelines.reminders.steps import DEFAULT_STEPS
from tests.support.cancel_page import form_token
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder

AS_OF = at("2026-12-01 09:00")
LOCALES = ["en", "fr", "es", "de"]
# each step due at AS_OF (09:00 in the member's zone, UTC here)
DUE_AT_AS_OF = {
    "renewal_7d": {"current_period_end": at("2026-12-08 10:00")},
    "renewal_30d": {"current_period_end": at("2026-12-31 10:00"), "interval": "year"},
    "trial_end_3d": {
        "status": "trialing",
        "trial_end": at("2026-12-04 10:00"),
        "current_period_end": at("2027-01-04 10:00"),
    },
    "card_expiry_30d": {"card": (12, 2026), "current_period_end": at("2027-01-05 10:00")},
    "pause_end_7d": {"current_period_end": at("2027-02-01 10:00")},
}
IN_TEXT = {
    "en": "You can cancel online in two clicks",
    "fr": "Vous pouvez résilier en ligne en deux clics",
    "es": "Puedes cancelar en línea en dos clics",
    "de": "Sie können online mit zwei Klicks kündigen",
}
IN_HTML = {
    "en": "Cancel online in two clicks</a>",
    "fr": "Résiliez en ligne en deux clics</a>",
    "es": "Cancela en línea en dos clics</a>",
    "de": "Kündigen Sie online mit zwei Klicks</a>",
}


@pytest.fixture
def reminders(engine, settings) -> list:
    """One reminder of every step in every language, sent through the engine."""
    assert set(DUE_AT_AS_OF) == {step.name for step in DEFAULT_STEPS}
    for locale in LOCALES:
        for step, values in DUE_AT_AS_OF.items():
            sub = f"{locale}-{step}"
            add_subscription(engine, sub, member=sub, locale=locale, **values)
            if step == "pause_end_7d":
                update_subscription(engine, sub, pause_resumes_at=at("2026-12-08 10:00"))
    out = Recorder()
    plan_all(engine, ReminderPipeline(), AS_OF, at("2026-11-30 09:00"))
    deliver_all(engine, settings, ReminderPipeline(), out, AS_OF)
    return out.sent


def test_every_reminder_in_every_language_carries_the_way_to_cancel(reminders, settings):
    assert sorted((m.locale, m.step) for m in reminders) == sorted(
        (locale, step) for locale in LOCALES for step in DUE_AT_AS_OF
    )
    for message in reminders:
        link = message.fields["manage_url"]
        assert link.startswith(f"{settings.public_url}/manage/"), link
        # in the body, where it is read, not only in the footer's small print
        body_text = message.text.split("\n--\n")[0]
        assert f"{IN_TEXT[message.locale]}" in body_text and link in body_text, message.text
        anchor = f'<a href="{html.escape(link)}">{IN_HTML[message.locale]}'
        assert anchor in message.html, (message.step, message.locale)


def test_the_link_in_each_reminder_cancels_in_two_clicks(reminders, engine, settings):
    with TestClient(create_app(settings)) as client:
        for message in reminders:
            path = "/" + message.fields["manage_url"].split("/", 3)[3]
            start = client.get(path)
            assert start.status_code == 200, (message.step, message.locale, start.text)
            assert f'<html lang="{message.locale}"' in start.text
            confirm = client.post(path, data={"form_token": form_token(start)})  # click 1
            assert confirm.status_code == 200 and f'action="{path}/decide"' in confirm.text
            done = client.post(  # click 2
                f"{path}/decide", data={"form_token": form_token(confirm), "choice": "cancel"}
            )
            assert done.status_code == 200
    with engine.connect() as conn:
        decided = conn.execute(select(CancelVisit.decision)).scalars().all()
    assert decided == ["cancel"] * len(reminders)


def test_a_reminder_without_its_cancel_link_is_not_sent_without_it(settings):
    """The templates need the link: a reminder rendered without one fails loudly (the engine
    always signs one), rather than going out with no way to cancel."""
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    for template, fields in sample_fields(settings).items():
        fields = {**business_fields(settings), **fields}
        assert re.search(r"/manage/", fields.pop("manage_url"))
        with pytest.raises(TemplateProblem, match="'manage_url' is undefined"):
            renderer.render(template, "en", fields)
