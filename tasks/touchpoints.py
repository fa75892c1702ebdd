"""Plan, preview and deliver touchpoints, one batch per task run (never one per member)."""

from datetime import datetime, timedelta

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from memberflow import engine as core
from memberflow.engine import DeliveryOptions, Enricher, Output, Pipeline, Step, Tally
from memberflow.rendering import Renderer
from memberflow.settings import Settings
from memberflow.store import Cursor, Selection

# Inputs are engines, blocks and pipelines: nothing to hash for a cache key.
batch_task = task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)


@batch_task
def plan_batch(
    db: Engine,
    pipeline: Pipeline,
    step: Step,
    selection: Selection,
    *,
    as_of: datetime,
    lookback: timedelta,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[Cursor | None, Tally]:
    """Records the touchpoints one batch of subscriptions owes (idempotent: keys are unique)."""
    cursor, tally = core.plan_batch(
        db,
        pipeline,
        step,
        selection,
        as_of=as_of,
        lookback=lookback,
        channel=channel,
        after=after,
        limit=limit,
    )
    get_run_logger().info("%s from %s: %s", step.name, after[0], dict(tally[step.name]))
    return cursor, tally


@batch_task
def preview_batch(
    db: Engine,
    pipeline: Pipeline,
    step: Step,
    selection: Selection,
    *,
    renderer: Renderer,
    settings: Settings,
    as_of: datetime,
    lookback: timedelta,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[Cursor | None, Tally]:
    """Dry run of one batch: renders what would be sent; writes and sends nothing."""
    return core.preview_batch(
        db,
        pipeline,
        step,
        selection,
        renderer=renderer,
        settings=settings,
        as_of=as_of,
        lookback=lookback,
        channel=channel,
        after=after,
        limit=limit,
    )


@batch_task
def count_due(db: Engine, pipeline: Pipeline, *, as_of: datetime, options: DeliveryOptions) -> int:
    with db.connect() as conn:
        stale_before = datetime.now(as_of.tzinfo) - options.claim_timeout
        return core.store.count_claimable(conn, pipeline.name, as_of, stale_before)


@batch_task
def deliver_batch(
    db: Engine,
    pipeline: Pipeline,
    *,
    renderer: Renderer,
    output: Output,
    settings: Settings,
    as_of: datetime,
    after_id: int,
    limit: int,
    options: DeliveryOptions,
    enrich: Enricher | None = None,
) -> tuple[int | None, Tally]:
    """Claims, re-checks, renders, sends and records one batch of due touchpoints."""
    try:
        cursor, tally = core.deliver_batch(
            db,
            pipeline,
            renderer=renderer,
            output=output,
            settings=settings,
            as_of=as_of,
            after_id=after_id,
            limit=limit,
            options=options,
            enrich=enrich,
        )
    finally:
        output.close()
    counts = core.add_tally({}, tally)
    get_run_logger().info(
        "delivered batch after touchpoint %s: %s",
        after_id,
        {step: dict(c) for step, c in counts.items()},
    )
    return cursor, tally
