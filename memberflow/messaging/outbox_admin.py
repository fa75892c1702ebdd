"""What ops ask of the outbox (`memberflow touchpoints`, `memberflow requeue`): every touchpoint
with its member and subscription, and dead messages put back after a fix."""

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, func, literal, select, update

from memberflow.core.models import Member, Subscription, Touchpoint, TouchpointStatus

member, subscription, touchpoint = Member.__table__, Subscription.__table__, Touchpoint.__table__


def list_touchpoints(
    conn: Connection, *, statuses: Sequence[str] = (), pipeline: str | None = None
) -> Iterator[Row]:
    """Touchpoints by due time, streamed from the database (read them inside the connection)."""
    query = (
        select(
            touchpoint.c.key,
            touchpoint.c.pipeline,
            touchpoint.c.step,
            member.c.external_id.label("member"),
            subscription.c.external_id.label("subscription"),
            touchpoint.c.channel,
            touchpoint.c.due_at,
            touchpoint.c.status,
            touchpoint.c.attempts,
            touchpoint.c.next_attempt_at,
            touchpoint.c.sent_at,
            touchpoint.c.error,
        )
        .join(subscription, subscription.c.id == touchpoint.c.subscription_id)
        .join(member, member.c.id == subscription.c.member_id)
        .order_by(touchpoint.c.due_at, touchpoint.c.id)
    )
    if statuses:
        query = query.where(touchpoint.c.status.in_(statuses))
    if pipeline:
        query = query.where(touchpoint.c.pipeline == pipeline)
    return iter(conn.execution_options(yield_per=1000).execute(query))


def requeue(
    conn: Connection, *, now: datetime, keys: Sequence[str] = (), pipeline: str | None = None
) -> int:
    """Dead touchpoints (these keys, or this pipeline's, or all) back in the queue after a fix:
    pending, with their attempts afresh and tried by the next run; what killed them stays in
    their error, after a note of the requeue. Returns how many."""
    conditions = [touchpoint.c.status == TouchpointStatus.dead]
    if keys:
        conditions.append(touchpoint.c.key.in_(keys))
    if pipeline:
        conditions.append(touchpoint.c.pipeline == pipeline)
    said = literal(f"requeued {now:%Y-%m-%d %H:%M} UTC; it was dead: ")
    statement = (
        update(touchpoint)
        .where(*conditions)
        .values(
            status=TouchpointStatus.pending,
            attempts=0,
            next_attempt_at=None,
            claimed_by=None,
            error=func.substr(said + func.coalesce(touchpoint.c.error, ""), 1, 1000),
        )
    )
    return conn.execute(statement).rowcount
