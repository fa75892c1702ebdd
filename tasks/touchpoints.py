"""Plan, preview and deliver touchpoints, one batch per task run (never one per member).

The tasks are the core's batch functions themselves, run as Prefect tasks: each batch shows in
the UI, and a failed one is retried (every batch function is idempotent). Their inputs are
engines, blocks and pipelines, so there is nothing to hash for a cache key.
"""

from datetime import datetime

from sqlalchemy import Engine

from memberflow.messaging import preview, store
from memberflow.messaging.claims import DeliveryOptions, abandoned_wait
from memberflow.messaging.delivery import deliver_batch
from memberflow.messaging.planning import plan_batch
from memberflow.messaging.protocols import Pipeline
from tasks import batch_task, deliver_run_name, plan_run_name

plan_batch = batch_task(plan_batch, name="plan_batch", task_run_name=plan_run_name)
preview_batch = batch_task(preview.preview_batch, name="preview_batch", task_run_name=plan_run_name)
deliver_batch = batch_task(deliver_batch, name="deliver_batch", task_run_name=deliver_run_name)


@batch_task
def count_due(db: Engine, pipeline: Pipeline, *, as_of: datetime, options: DeliveryOptions) -> int:
    """How many touchpoints a delivery at `as_of` will take (for the progress bar)."""
    stale_before = datetime.now(as_of.tzinfo) - options.lease
    with db.connect() as conn:
        return store.count_claimable(conn, pipeline.name, as_of, stale_before, options.channel)


abandoned_wait = batch_task(abandoned_wait, name="abandoned_wait")


@batch_task
def planned_through(db: Engine, pipeline: str) -> datetime | None:
    """Where the pipeline's last completed planning pass got to (its watermark)."""
    with db.connect() as conn:
        return store.planned_through(conn, pipeline=pipeline)


@batch_task
def advance_watermark(db: Engine, pipeline: str, as_of: datetime) -> None:
    """Records that every touchpoint due by `as_of` is accounted for (planned or expired)."""
    with db.begin() as conn:
        store.advance_watermark(conn, pipeline=pipeline, as_of=as_of)
