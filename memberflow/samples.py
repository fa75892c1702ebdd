"""Sample merge fields for every template of every pipeline: what `templates lint` renders."""

from memberflow.core.settings import Settings
from memberflow.pipelines.dunning import notices
from memberflow.pipelines.reminders import pipeline as reminders


def sample_fields(settings: Settings) -> dict[str, dict]:
    return {**reminders.sample_fields(settings), **notices.sample_fields(settings)}
