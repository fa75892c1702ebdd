"""Coming back: the open cancellations whose member is back (their subscription live again,
or a new one), when and how, and the marketing message credited for it."""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, false, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core import lifecycle
from memberflow.core.models import TouchpointStatus as Status
from memberflow.pipelines.cancellations.records import (
    LIVE,
    cancellation,
    subscription,
    touchpoint,
)
from memberflow.pipelines.cancellations.steps import PIPELINE, won_back_by


def _newer_live_subscription(
    canceled_at_column: ColumnElement,
    subscription_column: ColumnElement,
    member_column: ColumnElement,
):
    """(the other subscription, the conditions that make it a return): a subscription of the
    same member, for any product, started after the cancellation and live."""
    other = aliased(subscription, name="other_subscription")
    return other, (
        other.c.member_id == member_column,
        other.c.id != subscription_column,
        other.c.created_at > canceled_at_column,
        other.c.status.in_(("active", "trialing")),
        other.c.cancel_at_period_end == false(),
    )


def came_back_elsewhere(
    canceled_at_column: ColumnElement,
    subscription_column: ColumnElement,
    member_column: ColumnElement,
) -> ColumnElement:
    """A newer live subscription of the same member, for any product: they are back."""
    _, conditions = _newer_live_subscription(canceled_at_column, subscription_column, member_column)
    return exists().where(*conditions)


def returns(conn: Connection, *, as_of: datetime, window: timedelta) -> list[dict]:
    """Open cancellations whose member is back: their subscription live again (reactivated, or a
    cancellation at period end taken back), or a new subscription since. With when, how, and
    the marketing message credited (the last one sent within `window` before the return)."""
    other, conditions = _newer_live_subscription(
        cancellation.c.canceled_at, cancellation.c.subscription_id, cancellation.c.member_id
    )
    newer = (
        select(other.c.created_at)
        .where(*conditions)
        .order_by(other.c.created_at)
        .limit(1)
        .scalar_subquery()
    )
    reactivated = and_(
        subscription.c.status.in_(LIVE), subscription.c.cancel_at_period_end == false()
    )
    query = (
        select(
            cancellation.c.id,
            cancellation.c.subscription_id,
            cancellation.c.canceled_at,
            reactivated.label("reactivated"),
            lifecycle.reactivated_after(
                cancellation.c.subscription_id, cancellation.c.canceled_at
            ).label("reactivated_at"),
            subscription.c.provider_updated_at,
            newer.label("new_subscription_at"),
        )
        .join(subscription, subscription.c.id == cancellation.c.subscription_id)
        .where(cancellation.c.returned_at.is_(None), or_(reactivated, newer.is_not(None)))
    )
    found = []
    for row in conn.execute(query):
        how = "reactivated" if row.reactivated else "new_subscription"
        # a reactivation before the history was kept has only the subscription's last update
        reactivated_at = row.reactivated_at or row.provider_updated_at
        moment = (reactivated_at if row.reactivated else row.new_subscription_at) or as_of
        returned_at = min(max(moment, row.canceled_at), as_of)
        key, offer = _credited(conn, row, returned_at, window)
        found.append(
            {"id": row.id, "returned_at": returned_at, "returned_how": how}
            | {"won_back_by": key, "won_back_offer": offer}
        )
    return found


def _credited(conn: Connection, row: Any, returned_at: datetime, window: timedelta):
    sent = conn.execute(
        select(touchpoint.c.key, touchpoint.c.sent_at, touchpoint.c.context).where(
            touchpoint.c.subscription_id == row.subscription_id,
            touchpoint.c.pipeline == PIPELINE,
            touchpoint.c.anchor_at == row.canceled_at,
            touchpoint.c.status == Status.sent,
        )
    ).all()
    marketing = [t for t in sent if json.loads(t.context or "{}").get("marketing")]
    key = won_back_by([(t.sent_at, t.key) for t in marketing], returned_at, window)
    context = next((json.loads(t.context) for t in marketing if t.key == key), {})
    return key, (context.get("offer") or {}).get("code")


def mark_returned(conn: Connection, found: list[dict]) -> None:
    for values in found:
        conn.execute(
            update(cancellation)
            .where(cancellation.c.id == values["id"], cancellation.c.returned_at.is_(None))
            .values({k: v for k, v in values.items() if k != "id"})
        )


def record_returns(engine: Engine, *, as_of: datetime, window: timedelta) -> list[dict]:
    """Marks the open cancellations whose member is back; returns what was found."""
    with engine.begin() as conn:
        found = returns(conn, as_of=as_of, window=window)
        mark_returned(conn, found)
    return found
