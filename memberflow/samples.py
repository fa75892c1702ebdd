"""Sample merge fields for every template of every pipeline: what `templates lint` renders."""

from memberflow import reminders
from memberflow.dunning import notices
from memberflow.settings import Settings


def sample_fields(settings: Settings) -> dict[str, dict]:
    return {**reminders.sample_fields(settings), **notices.sample_fields(settings)}
