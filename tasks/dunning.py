"""Dunning's tasks: open cases, advance a batch of them, announce the closed ones."""

from datetime import UTC, datetime

from prefect.events import emit_event
from sqlalchemy import Engine

from memberflow.pipelines.dunning import cases
from tasks.touchpoints import batch_task

open_cases = batch_task(cases.open_cases, name="open_cases")
advance_batch = batch_task(cases.advance_batch, name="advance_cases")
count_open = batch_task(cases.count_open, name="count_open_cases")


@batch_task
def announce_closed(db: Engine) -> int:
    """Emits one Prefect event per closed case not yet announced; returns how many.

    Announced after the close is committed, and marked after the emit: a crash in between
    announces again, and Prefect drops the repeat by its event id.
    """
    announced = 0
    while closed := cases.closed_unannounced(db):
        for row in closed:
            emit_event(**cases.case_event(row))
        cases.mark_announced(db, [row["id"] for row in closed], datetime.now(UTC))
        announced += len(closed)
    return announced
