"""Dunning's tasks: open cases, advance a batch of them, announce the closed ones, publish the
run's summary."""

from datetime import UTC, datetime

from prefect.artifacts import create_table_artifact
from prefect.events import emit_event
from sqlalchemy import Engine

from memberflow.core.money import format_money
from memberflow.pipelines.dunning import advance, events, queries
from memberflow.pipelines.dunning.advance import Advance
from tasks import batch_task

open_cases = batch_task(queries.open_cases, name="open_cases")
advance_batch = batch_task(advance.advance_batch, name="advance_cases")
count_open = batch_task(queries.count_open, name="count_open_cases")


@batch_task
def announce_closed(db: Engine) -> int:
    """Emits one Prefect event per closed case not yet announced; returns how many.

    Announced after the close is committed, and marked after the emit: a crash in between
    announces again, and Prefect drops the repeat by its event id.
    """
    announced = 0
    while closed := queries.closed_unannounced(db):
        for row in closed:
            emit_event(**events.case_event(row))
        queries.mark_announced(db, [row["id"] for row in closed], datetime.now(UTC))
        announced += len(closed)
    return announced


CASE_COUNTS = (
    "opened",
    "advanced",
    "retries",
    "recovered",
    "paid_elsewhere",
    "written_off",
    "notices",
    "escalations",
    "gateway_paused",
    "waiting_for_ops",
    "unavailable",
    "final_cancel",
    "final_pause",
    "final_unpaid",
    "announced",
)


def publish_cases(advance: Advance, as_of: datetime, *, emails: dict, tickets: dict) -> dict:
    """The run's summary as a table artifact: cases, retries, money recovered, messages sent."""
    summary = {name: advance.counts.get(name, 0) for name in CASE_COUNTS}
    summary["recovered_amount"] = ", ".join(
        format_money(total, currency, "en") for currency, total in sorted(advance.recovered.items())
    )
    summary["emails_sent"] = emails.get("sent", 0)
    summary["tickets_sent"] = tickets.get("sent", 0)
    rows = [{"measure": name, "value": str(value)} for name, value in summary.items()]
    create_table_artifact(
        rows, key="dunning-cases", description=f"Dunning run at {as_of.isoformat()}"
    )
    return summary
