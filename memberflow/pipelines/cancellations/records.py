"""Cancellation follow-up, the database part: record each cancellation once (whichever provider,
webhook, import or dunning final action it came from) and plan its messages. Noticing the
member come back is `returns.py`; their own offer codes, `offers.py`."""

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, exists, not_, or_, select

from memberflow.core import lifecycle
from memberflow.core.db import insert_new
from memberflow.core.members import is_involuntary
from memberflow.core.models import Cancellation, Member, Product, Subscription, Touchpoint
from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import Timing, timing, zone
from memberflow.pipelines.cancellations.steps import (
    PIPELINE,
    CancellationStep,
    Leaving,
    Offer,
    access_end,
    offer_expires_on,
    steps_due,
)
from memberflow.plugin import insert_touchpoints, new_touchpoint

cancellation, subscription = Cancellation.__table__, Subscription.__table__
member, product, touchpoint = Member.__table__, Product.__table__, Touchpoint.__table__

log = logging.getLogger(__name__)
LIVE = ("active", "trialing", "past_due")  # a subscription in these states is not leaving
StepsFor = Callable[[str], list[CancellationStep]]  # product external id -> its steps


def _unrecorded(since: datetime, as_of: datetime, learned_after: int | None):
    """Subscriptions canceled (or set to cancel at period end) in (since, as_of], or whose
    cancellation memberflow learned of since the last run (a webhook delivered late: its
    moment is older than the last run), whose cancellation is not recorded: none open, and
    none recorded since this one was asked for."""
    recorded = exists().where(
        cancellation.c.subscription_id == subscription.c.id,
        or_(
            cancellation.c.returned_at.is_(None),
            cancellation.c.canceled_at >= subscription.c.canceled_at,
        ),
    )
    return (
        select(
            subscription.c.id,
            subscription.c.external_id,
            subscription.c.status,
            subscription.c.canceled_at,
            subscription.c.ended_at,
            subscription.c.current_period_end,
            subscription.c.cancel_reason,
            subscription.c.cancel_feedback,
            subscription.c.cancel_comment,
            subscription.c.member_id,
            member.c.time_zone,
            product.c.external_id.label("product_external_id"),
        )
        .join(member, member.c.id == subscription.c.member_id)
        .join(product, product.c.id == subscription.c.product_id)
        .where(
            or_(subscription.c.canceled_at > since, lifecycle.learned_after(learned_after)),
            subscription.c.canceled_at <= as_of,
            or_(subscription.c.status == "canceled", subscription.c.cancel_at_period_end),
            not_(recorded),
        )
        .order_by(subscription.c.canceled_at, subscription.c.id)
    )


def record_batch(
    conn: Connection,
    *,
    as_of: datetime,
    since: datetime,
    steps_for: StepsFor,
    offers: dict[str, Offer],
    channel: str,
    pause_urls: dict[str, str] | None = None,
    limit: int = 500,
    learned_after: int | None = None,
) -> tuple[int, int]:
    """Records up to `limit` new cancellations and plans their messages (due ones pending, those
    found too late expired). Returns (cancellations recorded, touchpoints planned); fewer than
    `limit` recorded means there are no more."""
    rows = list(conn.execute(_unrecorded(since, as_of, learned_after).limit(limit)))
    now = datetime.now(UTC)
    records = [_record(row, now) for row in rows]
    new_keys = set(insert_new(conn, cancellation, records, unique="key"))
    ids = dict(
        conn.execute(
            select(cancellation.c.key, cancellation.c.id).where(cancellation.c.key.in_(new_keys))
        ).all()
    )
    planned = []
    for row, record in zip(rows, records, strict=True):
        if record["key"] in ids:
            planned += _plan(
                row, record, ids[record["key"]], as_of, steps_for, offers, pause_urls or {}, channel
            )
    insert_touchpoints(conn, planned)
    return len(new_keys), len(planned)


def _record(row: Any, now: datetime) -> dict:
    return {
        "key": f"{row.id}:{row.canceled_at.isoformat()}",
        "subscription_id": row.id,
        "member_id": row.member_id,
        "canceled_at": row.canceled_at,
        "access_end": access_end(row.status, row.canceled_at, row.current_period_end, row.ended_at),
        "involuntary": is_involuntary(row.cancel_reason),
        "reason": row.cancel_reason,
        "feedback": row.cancel_feedback,
        "comment": row.cancel_comment,
        "recorded_at": now,
    }


def _plan(
    row: Any,
    record: dict,
    cancellation_id: int,
    as_of: datetime,
    steps_for: StepsFor,
    offers: dict[str, Offer],
    pause_urls: dict[str, str],
    channel: str,
) -> list[dict]:
    tz = zone(row.time_zone)
    leaving = Leaving(record["canceled_at"], record["access_end"], record["involuntary"])
    offer = offers.get(row.product_external_id)
    planned = []
    for step, due in steps_due(steps_for(row.product_external_id), leaving, tz):
        context: dict[str, Any] = {"cancellation_id": cancellation_id}
        if step.kind == "marketing":
            context["marketing"] = True  # what a comeback may be credited to
        if step.offer and offer is not None:
            expires = offer_expires_on(due, tz, offer.valid_days)
            context["offer"] = {
                **offer.model_dump(exclude_none=True),
                "expires_on": expires.isoformat(),
            }
        pausable = pause_urls.get(row.product_external_id)
        if step.pause and pausable and leaving.access_end > leaving.canceled_at:
            context["pause_url"] = pausable  # still active: a pause may suit them better
        late = timing(due, as_of, step.lateness) is Timing.expired
        planned.append(
            new_touchpoint(
                pipeline=PIPELINE,
                step=step.name,
                entity=row.external_id,
                channel=channel,
                subscription_id=row.id,
                anchor_at=record["canceled_at"],  # the cancellation: the claim joins on it
                tz=tz,
                due_at=due,
                status=Status.expired if late else Status.pending,
                context=json.dumps(context),
            )
        )
    return planned


def record_new(
    engine: Engine,
    *,
    as_of: datetime,
    since: datetime,
    steps_for: StepsFor,
    offers: dict[str, Offer],
    channel: str,
    pause_urls: dict[str, str] | None = None,
    batch_size: int = 500,
) -> tuple[int, int]:
    """Every cancellation in (since, as_of], or learned of since the last run, not yet
    recorded, a committed batch at a time. Returns (cancellations recorded, touchpoints
    planned)."""
    recorded = planned = 0
    with engine.connect() as conn:
        learned_after = lifecycle.learned_through(conn, pipeline=PIPELINE)
        learned_now = lifecycle.latest(conn)
    while True:
        with engine.begin() as conn:
            batch = record_batch(
                conn,
                as_of=as_of,
                since=since,
                steps_for=steps_for,
                offers=offers,
                channel=channel,
                pause_urls=pause_urls,
                limit=batch_size,
                learned_after=learned_after,
            )
        recorded, planned = recorded + batch[0], planned + batch[1]
        if batch[0] < batch_size:
            break
    with engine.begin() as conn:
        lifecycle.advance_learned(conn, pipeline=PIPELINE, seq=learned_now, since=since)
    return recorded, planned
