"""What the engine will send over the coming days, from the same planning code the runs use,
writing nothing: the outbox's open messages due then, and the touchpoints each date-planned
pipeline would plan for them (its selections, anchors and due times), less those planned
already. Pipelines that plan for themselves (dunning) add theirs through their registration."""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection, select

from memberflow.core.models import OPEN, Touchpoint
from memberflow.messaging.planning import next_cursor, unplanned
from memberflow.messaging.protocols import DatePlanner, PlanningWindow

touchpoint = Touchpoint.__table__
BATCH = 1000

Due = tuple[datetime, str, str]  # when, pipeline, step


def outbox_due(conn: Connection, start: datetime, end: datetime) -> Iterator[Due]:
    """Messages already planned, not yet sent, due in [start, end)."""
    query = select(touchpoint.c.due_at, touchpoint.c.pipeline, touchpoint.c.step).where(
        touchpoint.c.status.in_([status.value for status in OPEN]),
        touchpoint.c.due_at >= start,
        touchpoint.c.due_at < end,
    )
    for row in conn.execute(query):
        yield row.due_at, row.pipeline, row.step


def to_be_planned(
    conn: Connection, planner: DatePlanner, start: datetime, end: datetime, channel: str
) -> Iterator[Due]:
    """The touchpoints the runs will plan for `planner` due in [start, end), as a run at `end`
    accounting for everything since `start` would plan them, less those in the outbox already."""
    for step, selection in planner.selections(PlanningWindow(as_of=end, since=start)):
        cursor = selection.start
        while cursor is not None:
            rows, planned = unplanned(
                conn,
                planner,
                step,
                selection,
                as_of=end,
                since=start,
                channel=channel,
                after=cursor,
                limit=BATCH,
            )
            for row in planned:
                if start <= row["due_at"] < end:
                    yield row["due_at"], row["pipeline"], row["step"]
            cursor = next_cursor(rows, BATCH)
