"""The billing-reminder flow: renewal, annual renewal, trial-end and card-expiry notices."""

from datetime import datetime
from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.pipeline import run_pipeline
from flows.runs import finished, run_name
from memberflow.core.settings import get_settings
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from memberflow.pipelines.reminders.steps import DEFAULT_STEPS, ReminderStep


@flow(name="billing-reminders", flow_run_name=run_name("reminders", "day"))
def reminders(
    as_of: datetime | None = None,
    simulate: bool | None = None,
    steps: list[ReminderStep] = DEFAULT_STEPS,  # noqa: B006 (copied below, never mutated)
    product_steps: dict[str, list[ReminderStep]] | None = None,
    output: str = "",
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500,
    lookback_days: Annotated[int, Field(ge=0, le=60)] = 3,
    dry_run: bool = False,
) -> list[dict]:
    """Sends every reminder due at `as_of` (default: now) exactly once.

    Args:
        as_of: The moment the run acts for; earlier or later days can be replayed.
        simulate: Act for a moment ahead of the clock, on a database kept for simulations
            (empty: as the database is; see docs/architecture.md, "Time travel").
        steps: The reminder steps for every product without its own list.
        product_steps: Whole replacement step lists for some products, by product external id.
        output: A saved output Block as `type-slug/name`; empty writes .eml files to the outbox.
        batch_size: Touchpoints per task run.
        lookback_days: How far back the very first run looks for missed reminders; later runs
            account for everything since the last completed run, however long ago.
        dry_run: Render and count, but record and send nothing.
    """
    pipeline = ReminderPipeline(steps=list(steps), product_steps=dict(product_steps or {}))
    rows = run_pipeline(
        pipeline,
        settings=get_settings(),
        as_of=as_of,
        simulate=simulate,
        output=output,
        batch_size=batch_size,
        lookback_days=lookback_days,
        dry_run=dry_run,
    )
    return finished(rows, rows[-1])
