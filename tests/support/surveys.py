"""Surveys for tests: a day of the survey flow without Prefect, and the links in an email."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

from memberflow.pipelines.surveys import records
from memberflow.pipelines.surveys.pipeline import SurveyPipeline
from tests.support.delivery import deliver_all, plan_all


def survey_day(engine, settings, as_of, output, pipeline=None):
    """What the flow does at `as_of`: answers given at the provider, then plan and send."""
    pipeline = pipeline or SurveyPipeline()
    since = as_of - timedelta(days=1)
    records.record_provider_answers(engine, as_of=as_of, since=since, step=pipeline.steps[0])
    plan_all(engine, pipeline, as_of, since)
    return deliver_all(engine, settings, pipeline, output, as_of)


def links(text: str) -> list[str]:
    """The paths of the survey links in a message's text, in order."""
    return [urlsplit(url).path for url in re.findall(r"https?://\S+/survey/\S+", text)]
