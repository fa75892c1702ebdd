"""Templates are untrusted input: strict, sandboxed, escaped, and linted with file and line."""

import shutil
from pathlib import Path

import pytest

from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging import registry
from memberflow.messaging.registry import sample_fields as every_sample
from memberflow.messaging.rendering import Renderer, TemplateProblem, business_fields
from memberflow.pipelines.reminders.pipeline import message_fields, sample_row
from memberflow.pipelines.reminders.steps import DEFAULT_STEPS
from tests.support.clock import at

RENEWAL = "reminders/renewal"


@pytest.fixture
def templates(tmp_path) -> Path:
    """A private copy of the shipped templates to break."""
    return Path(shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates"))


def fields(**row):
    settings = Settings()
    own = message_fields(DEFAULT_STEPS[0], sample_row(**row), at("2026-12-08 10:00"), settings)
    manage = {"manage_url": f"{settings.public_url}/manage/x"}  # the engine signs one per reminder
    return {**business_fields(settings), **own, **manage}


def test_the_shipped_templates_lint_clean():
    renderer = Renderer(PROJECT_ROOT / "templates")
    assert renderer.lint(every_sample(Settings())) == []
    steps = [step for r in registry.registered().values() for step in r.steps()]
    assert renderer.template_names() == sorted({step.template for step in steps if step.template})


def test_lint_reports_every_problem_with_file_and_line(templates):
    body = templates / RENEWAL / "en" / "body.txt"
    body.write_text(body.read_text().replace("{{ product_name }}", "{{ product_nmae }}", 1))
    subject = templates / RENEWAL / "fr" / "subject.txt"
    subject.write_text("Votre {% if %} abonnement\n")

    problems = Renderer(templates).lint(every_sample(Settings()))

    found = {(p.template, p.line) for p in problems}
    assert ("reminders/renewal/en/body.txt", 5) in found
    assert ("reminders/renewal/fr/subject.txt", 1) in found
    text = "\n".join(str(p) for p in problems)
    assert "'product_nmae' is undefined" in text
    assert len(problems) == 2


def test_a_typo_fails_rendering_with_a_clear_reason(templates):
    body = templates / RENEWAL / "en" / "body.html"
    body.write_text(body.read_text().replace("{{ amount }}", "{{ amount_due }}"))
    with pytest.raises(TemplateProblem) as problem:
        Renderer(templates).render(RENEWAL, "en", fields())
    assert problem.value.template == "reminders/renewal/en/body.html"
    assert problem.value.line == 8
    assert "'amount_due' is undefined" in str(problem.value)


def test_html_escapes_a_hostile_member_name():
    rendered = Renderer(PROJECT_ROOT / "templates").render(
        RENEWAL, "en", fields(first_name="<script>alert(1)</script>")
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text is not HTML


def test_the_sandbox_blocks_reaching_into_python(templates):
    (templates / RENEWAL / "en" / "subject.txt").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(TemplateProblem, match="unsafe|access"):
        Renderer(templates).render(RENEWAL, "en", fields())


def test_french_formatting_of_eur_amounts_and_dates():
    rendered = Renderer(PROJECT_ROOT / "templates").render(
        RENEWAL,
        "fr",
        fields(locale="fr", currency="EUR", amount_minor=123456, time_zone="Europe/Paris"),
    )
    assert "1\u202f234,56\xa0€" in rendered.text
    assert "8 décembre 2026" in rendered.subject


def test_unknown_locale_falls_back_to_the_product_then_the_default_and_regional_to_base():
    renderer = Renderer(PROJECT_ROOT / "templates")
    assert renderer.locale_for(RENEWAL, "it") == "en"
    assert renderer.locale_for(RENEWAL, "fr-CA") == "fr"
    assert renderer.locale_for(RENEWAL, "de_AT") == "de"
    assert renderer.locale_for(RENEWAL, None) == "en"
    assert renderer.language(RENEWAL, "it", "es").locale == "es"
    assert Renderer(PROJECT_ROOT / "templates", "fr").locale_for(RENEWAL, "pt-BR") == "fr"


def test_every_message_carries_what_a_reminder_needs():
    rendered = Renderer(PROJECT_ROOT / "templates").render(RENEWAL, "en", fields())
    for needed in (
        "Ada",
        "Monthly Club",
        "$19.99",
        "December 8, 2026",
        "sub_1001",
        "12 St James",
        "https://example.com/account/billing",
        "support@example.com",
        "Thank",
        "live Q&A",
    ):
        assert needed in rendered.text, needed
    assert "live Q&amp;A" in rendered.html
