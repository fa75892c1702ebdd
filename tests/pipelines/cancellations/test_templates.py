"""What a cancellation message must say beyond the checklist every member template passes
(tests/messaging/test_member_templates.py), and what a goodbye must never say."""

import pytest

from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging.registry import sample_fields
from memberflow.messaging.rendering import Renderer
from memberflow.pipelines.cancellations.steps import DEFAULT_STEPS
from tests.support.wording import GUILT

RENDERER = Renderer(PROJECT_ROOT / "templates")
SAMPLES = sample_fields(Settings())
CASES = [
    (step, locale) for step in DEFAULT_STEPS for locale in RENDERER.locales(step.template_name)
]


def render(step, locale):
    return RENDERER.render(step.template_name, locale, SAMPLES[step.template_name])


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
