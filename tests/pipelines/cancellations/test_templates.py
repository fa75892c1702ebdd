"""What every cancellation message must say, in every locale it ships in, and what a goodbye
must never say."""

import re

import pytest

from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging.registry import sample_fields
from memberflow.messaging.rendering import Renderer
from memberflow.pipelines.cancellations.steps import DEFAULT_STEPS

RENDERER = Renderer(PROJECT_ROOT / "templates")
SAMPLES = sample_fields(Settings())
CASES = [
    (step, locale) for step in DEFAULT_STEPS for locale in RENDERER.locales(step.template_name)
]
THANKS = {"en": "Thank", "fr": "Merci"}
GUILT = {
    "en": ["sorry to see you go", "disappointed", "miss you", "sad", "shame", "regret", "why did"],
    "fr": ["déçu", "dommage", "triste", "vous nous manquez", "regret", "pourquoi"],
}


def render(step, locale):
    return RENDERER.render(step.template_name, locale, SAMPLES[step.template_name])


@pytest.mark.parametrize("step,locale", CASES, ids=lambda v: getattr(v, "name", v))
def test_every_message_names_the_member_thanks_them_and_gives_one_way_back(step, locale):
    message = render(step, locale)
    fields = SAMPLES[step.template_name]
    assert fields["first_name"] in message.text and fields["first_name"] in message.html
    assert THANKS[locale] in message.text
    assert fields["support_email"] in message.text
    buttons = re.findall(r'<a class="cta"', message.html)
    assert len(buttons) == 1, "one call to action"
    assert f'lang="{locale}"' in message.html
    if step.kind == "marketing":
        assert fields["unsubscribe_url"] in message.text
        assert fields["unsubscribe_url"] in message.html


@pytest.mark.parametrize("step,locale", [c for c in CASES if c[0].kind == "transactional"], ids=str)
def test_a_goodbye_says_until_when_and_never_guilt_trips(step, locale):
    message = render(step, locale)
    fields = SAMPLES[step.template_name]
    assert fields["access_end"] in message.text
    if step.audience == "involuntary":
        assert fields["amount"] in message.text
    words = f"{message.subject}\n{message.text}".lower()
    assert [word for word in GUILT[locale] if word in words] == []
    assert "COMEBACK" not in message.text  # no offer in the goodbye


def test_the_winback_carries_the_offer_and_its_expiry():
    winback = next(step for step in DEFAULT_STEPS if step.offer)
    message = render(winback, "en")
    assert "a free month" in message.subject
    assert "COMEBACK" in message.text and "2027-01-15" not in message.text
    assert "January 15, 2027" in message.text
