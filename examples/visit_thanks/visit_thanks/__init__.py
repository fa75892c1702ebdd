"""memberflow-visit-thanks: registered once, by the entry point in pyproject.toml."""

from pathlib import Path

from memberflow.plugin import Registration
from visit_thanks.pipeline import NAME, STEPS, VisitThanks, sample_fields

HERE = Path(__file__).parent

registration = Registration(
    name=NAME,
    summary="A thank-you the day after a member visits.",
    flow="visit_thanks.flow:visit_thanks",
    messages=lambda: [VisitThanks()],
    steps=lambda: STEPS,
    sample_fields=sample_fields,
    commands={"visits": "visit_thanks.commands:app"},
    templates=HERE / "templates",
    migrations=HERE / "migrations",
)
