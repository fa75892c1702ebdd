"""The report's numbers, each one SQL aggregate over the recorded history (docs/metrics.md
gives every formula). Amounts stay in minor units and per currency: EUR and USD are never added.
A membership (one subscription) is the unit: members and revenue are counted per subscription.

Here: the tables and conditions every measure shares, and the deliveries per step. The measures
have a module each: `churn` (and tenure, revenue, lifetime value), `recovery` (failed payments
won back) and `trend` (both over consecutive periods)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    and_,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from memberflow.analytics.period import Period
from memberflow.core.dunning_models import DunningCase
from memberflow.core.models import Cancellation, Invoice, Product, Subscription, Touchpoint

subscription, product = Subscription.__table__, Product.__table__
cancellation, case_table = Cancellation.__table__, DunningCase.__table__
invoice, touchpoint = Invoice.__table__, Touchpoint.__table__
ALL = "all"  # the row that covers every product (of one currency)


def started() -> ColumnElement:
    return func.coalesce(subscription.c.started_at, subscription.c.created_at)


def active_at(moment: datetime) -> ColumnElement:
    """Started by `moment` (no start known: long before), no cancellation covering `moment`
    (its access had ended, the member not back yet), and not canceled without one recorded
    (imported so: gone from its period end). NOT EXISTS, never NOT IN: PostgreSQL runs a
    NOT IN over 360,000 rows as a loop per subscription (minutes), NOT EXISTS as one anti-join."""
    gone = cancellation.alias("gone")  # the query may join cancellation itself
    covered = exists().where(
        gone.c.subscription_id == subscription.c.id,
        gone.c.access_end <= moment,
        or_(gone.c.returned_at.is_(None), gone.c.returned_at > moment),
    )
    unrecorded = and_(
        subscription.c.status == "canceled",
        subscription.c.current_period_end <= moment,
        ~exists().where(gone.c.subscription_id == subscription.c.id),
    )
    began = or_(started().is_(None), started() <= moment)
    return and_(began, ~covered, not_(unrecorded))


def only_products(query, products: Sequence[str] | None):
    return query.where(product.c.external_id.in_(products)) if products else query


def deliveries(conn: Connection, period: Period) -> list[dict]:
    """Touchpoints due in the period, by pipeline, channel and status (sent, failed, dead,
    expired, skipped, held by the contact cap, still pending)."""
    query = (
        select(
            touchpoint.c.pipeline,
            touchpoint.c.channel,
            touchpoint.c.status,
            func.count().label("messages"),
        )
        .where(touchpoint.c.due_at >= period.start, touchpoint.c.due_at < period.end)
        .group_by(touchpoint.c.pipeline, touchpoint.c.channel, touchpoint.c.status)
        .order_by(touchpoint.c.pipeline, touchpoint.c.channel, touchpoint.c.status)
    )
    return [dict(row) for row in conn.execute(query).mappings()]
