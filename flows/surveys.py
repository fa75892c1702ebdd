"""The feedback survey flow: record answers given at the provider, send the exit and
satisfaction surveys that fell due, publish the results."""

from datetime import datetime, timedelta
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows.pipeline import run_pipeline
from flows.runs import finished, open_run, run_name
from memberflow.core.settings import get_settings
from memberflow.pipelines.surveys.pipeline import SurveyPipeline
from memberflow.pipelines.surveys.steps import PIPELINE, SurveyOffer, SurveyPlan
from tasks.surveys import publish_results, record_provider_answers
from tasks.touchpoints import planned_through


@flow(name="feedback-surveys", flow_run_name=run_name("surveys", "day"))
def surveys(
    as_of: datetime | None = None,
    simulate: bool | None = None,
    plan: SurveyPlan = SurveyPlan(),  # noqa: B008 (a frozen default, never mutated)
    offers: dict[str, SurveyOffer] | None = None,
    output: str = "",
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500,
    lookback_days: Annotated[int, Field(ge=0, le=60)] = 3,
    dry_run: bool = False,
) -> list[dict]:
    """Sends every survey invitation due at `as_of` (default: now) exactly once.

    Args:
        as_of: The moment the run acts for; earlier or later days can be replayed.
        simulate: Act for a moment ahead of the clock, on a database kept for simulations
            (empty: as the database is; see docs/architecture.md, "Time travel").
        plan: When to ask: days after a cancellation, satisfaction-survey tenures and products.
        offers: What the page shows a member who left because it was too expensive, by
            product external id (code and description).
        output: A saved output Block as `type-slug/name`; empty writes .eml files to the outbox.
        batch_size: Touchpoints per task run.
        lookback_days: How far back the very first run looks; later runs take everything
            since the last completed run, however long ago.
        dry_run: Render and count, but record and send nothing.
    """
    log, settings = get_run_logger(), get_settings()
    db, as_of = open_run(settings, as_of, simulate=simulate, dry_run=dry_run)
    exit_step = plan.steps()[0]
    if not dry_run:
        since = planned_through(db, PIPELINE) or as_of - timedelta(days=lookback_days)
        told = record_provider_answers(db, as_of=as_of, since=since, step=exit_step)
        log.info("%s exit answer(s) given at the provider recorded", told)
    offers = {product: offer.model_dump() for product, offer in (offers or {}).items()}
    rows = run_pipeline(
        SurveyPipeline(plan=plan, offers=offers),
        settings=settings,
        as_of=as_of,
        output=output,
        batch_size=batch_size,
        lookback_days=lookback_days,
        dry_run=dry_run,
    )
    if not dry_run:
        publish_results(db, as_of)
    return finished(rows, rows[-1])
