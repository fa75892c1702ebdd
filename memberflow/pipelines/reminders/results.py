"""What reminders came to, for the retention report and for experiments on reminder steps: did
the renewal a reminder announced go through, and did reminded renewals fail less often than
those that got no reminder (expired, held by the contact cap, or an experiment's holdout)?"""

from datetime import datetime

from sqlalchemy import Connection, and_, case, false, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.models import Product, Subscription, Touchpoint
from memberflow.pipelines.reminders.steps import PIPELINE
from memberflow.plugin import HOLDOUT, provided

touchpoint, subscription, product = Touchpoint.__table__, Subscription.__table__, Product.__table__
# a failed payment this long after the date a reminder announced is that renewal's failure
FAILED_WITHIN_DAYS = 7
NOT_REMINDED = ("expired", "held", "dead")  # and the holdout's (skipped, variant holdout)


def failed_payment(dialect: str) -> ColumnElement:
    """A payment of the reminder's subscription failed between the reminder's due time and a
    week after the date it announced, and was not recovered: asked of whichever pipeline
    provides `failed_payment_after` (dunning); without one, none is known."""
    failed_after = provided("failed_payment_after")
    if failed_after is None:
        return false()
    return failed_after(
        dialect,
        touchpoint.c.subscription_id,
        touchpoint.c.due_at,
        touchpoint.c.anchor_at,
        FAILED_WITHIN_DAYS,
    )


def goal(dialect: str) -> tuple[str, ColumnElement]:
    """Renewed: the subscription's period has moved past the date the reminder announced, with
    no unrecovered failed payment on the way (a member who left at that date did not renew)."""
    period_end = subscription.c.current_period_end  # the touchpoint's own subscription's
    return "renewed", and_(period_end > touchpoint.c.anchor_at, not_(failed_payment(dialect)))


def report_sections(
    conn: Connection, start: datetime, end: datetime, products: list[str] | None
) -> dict:
    """Per step, reminders whose date fell in the period: reminded against not reminded, and
    how many of each then had a failed payment."""
    dialect = conn.dialect.name
    reminded = case((touchpoint.c.status == "sent", "reminded"), else_="not reminded")
    failed = case((failed_payment(dialect), 1), else_=0)
    query = (
        select(
            touchpoint.c.step,
            reminded.label("group"),
            func.count().label("renewals"),
            func.sum(failed).label("failed_payments"),
        )
        .select_from(
            touchpoint.join(subscription, subscription.c.id == touchpoint.c.subscription_id)
        )
        .where(
            touchpoint.c.pipeline == PIPELINE,
            touchpoint.c.anchor_at >= start,
            touchpoint.c.anchor_at < end,
            or_(
                touchpoint.c.status == "sent",
                touchpoint.c.status.in_(NOT_REMINDED),
                touchpoint.c.variant == HOLDOUT,
            ),
        )
        .group_by(touchpoint.c.step, reminded)
        .order_by(touchpoint.c.step, reminded)
    )
    if products:
        query = query.join(product, product.c.id == subscription.c.product_id).where(
            product.c.external_id.in_(products)
        )
    rows = []
    for row in conn.execute(query).mappings():
        share = row["failed_payments"] / row["renewals"] if row["renewals"] else None
        rows.append({**row, "failed_share": share})
    return {"renewals after a reminder": rows}
