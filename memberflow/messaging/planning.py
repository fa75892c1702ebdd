"""Planning: which touchpoints the subscriptions owe at `as_of`, written to the outbox under
their keys before anything is sent (due ones pending, missed ones expired)."""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Engine, Row

from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import Timing, timing, zone
from memberflow.messaging import store
from memberflow.messaging.outbox import insert_touchpoints, new_touchpoint
from memberflow.messaging.protocols import DatePlanner, PlanningWindow, Step
from memberflow.messaging.store import Cursor, Selection
from memberflow.messaging.tally import Tally


def plan_rows(
    planner: DatePlanner,
    step: Step,
    rows: Iterable[Row],
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
) -> list[dict]:
    """Touchpoints these subscriptions owe at `as_of`: due ones pending, missed ones expired."""
    planned = []
    earliest = PlanningWindow(as_of, since).start(step)
    for row in rows:
        anchor = planner.anchor_for(step, row)
        if anchor is None:
            continue
        tz = zone(row.time_zone)
        due = planner.due(step, anchor, tz)
        when = timing(due, as_of, step.lateness)
        if when is Timing.not_yet or due < earliest:
            continue
        planned.append(
            new_touchpoint(
                pipeline=planner.name,
                step=step.name,
                entity=row.sub_external_id,
                channel=channel,
                subscription_id=row.sub_id,
                anchor_at=anchor,
                tz=tz,
                due_at=due,
                status=Status.expired if when is Timing.expired else Status.pending,
            )
        )
    return planned


def plan_batch(
    engine: Engine,
    pipeline: DatePlanner,
    step: Step,
    selection: Selection,
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[Cursor | None, Tally]:
    """Plans one batch of candidates; returns the cursor for the next batch (None when done)."""
    with engine.begin() as conn:
        rows = store.select_candidates(conn, selection, after, limit, extend_plan(pipeline))
        planned = plan_rows(pipeline, step, rows, as_of=as_of, since=since, channel=channel)
        new_keys = set(insert_touchpoints(conn, planned))
    counts = Counter(
        "planned" if row["status"] == Status.pending else "expired"
        for row in planned
        if row["key"] in new_keys
    )
    return next_cursor(rows, limit), {step.name: counts}


def unplanned(
    conn: Connection,
    planner: DatePlanner,
    step: Step,
    selection: Selection,
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[list[Row], list[dict]]:
    """One batch of candidates, and the touchpoints they owe that the outbox does not hold
    yet, writing nothing: what a dry run and a forecast look at."""
    rows = store.select_candidates(conn, selection, after, limit, extend_plan(planner))
    planned = plan_rows(planner, step, rows, as_of=as_of, since=since, channel=channel)
    known = store.existing_keys(conn, [plan["key"] for plan in planned])
    return rows, [plan for plan in planned if plan["key"] not in known]


def extend_plan(planner: DatePlanner):
    """The planner's `extend_plan` (`ExtendsPlan`), if it has one: what else it plans on."""
    return getattr(planner, "extend_plan", None)


def next_cursor(rows: list[Row], limit: int) -> Cursor | None:
    if len(rows) < limit:
        return None
    return getattr(rows[-1], store.SELECTED), rows[-1].sub_id
