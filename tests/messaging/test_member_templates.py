"""The content checklist, over every template members read, in every language memberflow
speaks: a template added later (by any pipeline) is held to it too. The English version sets
the facts; each language must state the same ones, formatted its own way."""

import html
import re

import pytest

from memberflow.core.locales import SUPPORTED
from memberflow.core.settings import Settings
from memberflow.messaging import registry
from memberflow.messaging.rendering import Renderer

RENDERER = Renderer(registry.template_folders(Settings()))
TEMPLATES = registry.member_templates()
SAMPLES = {locale: registry.sample_fields(Settings(), locale) for locale in SUPPORTED}
THANKS = {"en": "thank", "fr": "merci", "es": "gracias", "de": "dank"}
# what a member must be able to find: who it is for, what is owed and when, who to ask
FACTS = ("first_name", "product_name", "amount", "due_date", "access_end", "final_action_date")
CASES = [(name, locale) for name in TEMPLATES for locale in SUPPORTED]


def render(name, locale):
    return RENDERER.render(name, locale, SAMPLES[locale][name])


def calls_to_action(html):
    return len(re.findall(r'<a class="cta"', html))


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_member_template_is_written_in_every_language(name):
    assert set(SUPPORTED) <= set(RENDERER.locales(name)), f"{name} lacks a language"


@pytest.mark.parametrize("name,locale", CASES, ids=[f"{n}-{loc}" for n, loc in CASES])
def test_every_language_says_what_english_says(name, locale):
    english, message = render(name, "en"), render(name, locale)
    fields, english_fields = SAMPLES[locale][name], SAMPLES["en"][name]
    stated = [fact for fact in FACTS if str(english_fields.get(fact) or "\0") in english.text]
    for fact in stated:
        assert str(fields[fact]) in message.text, f"{name} ({locale}) does not say its {fact}"
        assert str(fields[fact]) in html.unescape(message.html)
    assert THANKS[locale] in message.text.lower(), f"{name} ({locale}) thanks no one"
    assert fields["support_email"] in message.text, f"{name} ({locale}): who to write to"
    assert calls_to_action(message.html) == calls_to_action(english.html) <= 1
    assert f'lang="{locale}"' in message.html
    assert message.subject and "{" not in message.subject
    if "unsubscribe_url" in fields:
        assert (
            fields["unsubscribe_url"] in message.text and fields["unsubscribe_url"] in message.html
        )


@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED if loc != "en"])
def test_no_english_sentence_is_left_in_another_language(locale):
    leftovers = ("Hi ", "Thank you", "Questions?", "membership", "Unsubscribe", "free month")
    for name in TEMPLATES:
        message = render(name, locale)
        found = [words for words in leftovers if words in message.text + message.subject]
        assert found == [], f"{name} ({locale}) still says {found}"
