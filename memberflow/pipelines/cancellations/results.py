"""The follow-up's results for the retention report: members who came back in the period, by the
message and offer that won them back (or on their own), and the monthly revenue they brought."""

from datetime import datetime

from sqlalchemy import Connection, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.models import Cancellation, Product, Subscription, Touchpoint
from memberflow.core.revenue import monthly_minor

cancellation, subscription = Cancellation.__table__, Subscription.__table__
product, touchpoint = Product.__table__, Touchpoint.__table__
ON_THEIR_OWN = "on their own"


def report_sections(
    conn: Connection, start: datetime, end: datetime, products: list[str] | None
) -> dict:
    step = func.coalesce(touchpoint.c.step, ON_THEIR_OWN).label("won_back_by")
    offer = func.coalesce(cancellation.c.won_back_offer, "").label("offer")
    query = (
        select(
            subscription.c.currency,
            step,
            offer,
            func.count().label("came_back"),
            func.sum(monthly_minor()).label("mrr_won_back"),
        )
        .select_from(
            cancellation.join(subscription, subscription.c.id == cancellation.c.subscription_id)
            .join(product, product.c.id == subscription.c.product_id)
            .outerjoin(touchpoint, touchpoint.c.key == cancellation.c.won_back_by)
        )
        .where(cancellation.c.returned_at >= start, cancellation.c.returned_at < end)
        .group_by(subscription.c.currency, step, offer)
        .order_by(subscription.c.currency, step, offer)
    )
    if products:
        query = query.where(product.c.external_id.in_(products))
    return {"win-backs": [dict(row) for row in conn.execute(query).mappings()]}


def goal(dialect: str) -> tuple[str, ColumnElement]:
    """Came back: the member returned after the message was due (on their own or by it)."""
    return "came back", exists().where(
        cancellation.c.subscription_id == touchpoint.c.subscription_id,
        cancellation.c.returned_at >= touchpoint.c.due_at,
    )
