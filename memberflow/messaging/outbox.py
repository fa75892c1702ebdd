"""The outbox as a pipeline writes it, and the only way it does: every touchpoint under a key
derived from the domain, so a rerun, a retry or a race makes the same one (and the insert adds
nothing); not yet sent ones skipped with a reason; a planned one's context amended (its offer
code). Delivery owns the rest of a touchpoint's life (`claims`, `delivery`)."""

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.db import insert_new, insert_one
from memberflow.core.models import Touchpoint
from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import local_date

touchpoint = Touchpoint.__table__
RETRYABLE = (Status.pending, Status.failed)  # not sent yet, and a run may still send it


def touchpoint_key(pipeline: str, step: str, entity: str, anchor_day: date, channel: str) -> str:
    """`pipeline:step:entity:anchor-date:channel`, the entity being what the message is about
    (a subscription, an invoice): the same for any rerun, retry or race."""
    return f"{pipeline}:{step}:{entity}:{anchor_day.isoformat()}:{channel}"


def new_touchpoint(
    *,
    pipeline: str,
    step: str,
    entity: str,
    channel: str,
    subscription_id: int,
    anchor_at: datetime,
    tz: ZoneInfo,
    due_at: datetime,
    status: Status = Status.pending,
    **columns: object,
) -> dict:
    """The outbox row of a touchpoint, its key derived from the domain (`touchpoint_key`)."""
    return {
        "key": touchpoint_key(pipeline, step, entity, local_date(anchor_at, tz), channel),
        "pipeline": pipeline,
        "step": step,
        "channel": channel,
        "subscription_id": subscription_id,
        "anchor_at": anchor_at,
        "due_at": due_at,
        "status": status,
        "attempts": 0,
        "created_at": datetime.now(UTC),
        **columns,
    }


def insert_touchpoints(conn: Connection, rows: list[dict]) -> list[str]:
    """Inserts rows whose key is new; returns the keys that were new. Never duplicates a key."""
    return insert_new(conn, touchpoint, rows, unique="key")


def plan_touchpoint(conn: Connection, row: dict) -> None:
    """One touchpoint, written unless its key is planned already (a rerun, a race): for a
    pipeline that plans as it goes, one case at a time (dunning)."""
    insert_one(conn, touchpoint, row, unique="key")


def skip_unsent(conn: Connection, *, pipeline: str, reason: str, **match: object) -> None:
    """Marks a pipeline's not yet sent touchpoints that match `match` (column=value) skipped."""
    conn.execute(
        update(touchpoint)
        .where(
            touchpoint.c.pipeline == pipeline,
            touchpoint.c.status.in_(RETRYABLE),
            *(touchpoint.c[column] == value for column, value in match.items()),
        )
        .values(status=Status.skipped, error=reason)
    )


def amend_context(conn: Connection, touchpoint_id: int, context: dict) -> None:
    """Replaces a planned touchpoint's context (what its message needs beyond the row)."""
    conn.execute(
        update(touchpoint)
        .where(touchpoint.c.id == touchpoint_id)
        .values(context=json.dumps(context))
    )


def last_bill_notice(subscription_id: ColumnElement, before: ColumnElement) -> ColumnElement:
    """When the subscription's member was last sent a message about a bill (any pipeline's
    touchpoint about an invoice), at or before `before`: a scalar subquery over the asker's
    columns, NULL when never."""
    notice = touchpoint.alias("bill_notice")
    return (
        select(func.max(notice.c.due_at))
        .where(
            notice.c.subscription_id == subscription_id,
            notice.c.invoice_id.is_not(None),
            notice.c.status == Status.sent,
            notice.c.due_at <= before,
        )
        .scalar_subquery()
    )
