"""The cancel moment's sections of the retention report: its visits read here, the numbers
computed by results.py."""

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, func, select

from memberflow.core.models import Invoice
from memberflow.pipelines.cancel_moment.records import product, subscription, visit
from memberflow.pipelines.cancel_moment.results import Visit, holdout, table

invoice = Invoice.__table__
PER_MONTH = {"month": 1, "year": 12}


def visits(
    conn: Connection, start: datetime, end: datetime, products: list[str] | None
) -> list[Visit]:
    """The page's visits opened in [start, end), with what became of their subscriptions."""
    first_paid_after = (
        select(func.min(invoice.c.paid_at))
        .where(
            invoice.c.subscription_id == visit.c.subscription_id,
            invoice.c.status == "paid",
            invoice.c.paid_at > visit.c.decided_at,
        )
        .scalar_subquery()
    )
    query = (
        select(
            product.c.external_id.label("product"),
            visit.c.reason,
            visit.c.offered,
            visit.c.withheld,
            visit.c.decision,
            visit.c.opened_at,
            visit.c.decided_at,
            subscription.c.canceled_at,
            first_paid_after.label("paid_after"),
            subscription.c.amount_minor,
            subscription.c.interval,
            subscription.c.currency,
        )
        .join(subscription, subscription.c.id == visit.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
        .where(and_(visit.c.opened_at >= start, visit.c.opened_at < end))
    )
    if products:
        query = query.where(product.c.external_id.in_(products))
    found = []
    for row in conn.execute(query):
        offered = json.loads(row.offered) if row.offered else {}
        found.append(
            Visit(
                product=row.product,
                reason=row.reason,
                offered=offered.get("kind"),
                withheld=row.withheld,
                decision=row.decision,
                opened_at=row.opened_at,
                decided_at=row.decided_at,
                canceled_at=row.canceled_at,
                paid_after=row.paid_after,
                pause_months=offered.get("months", 1),
                monthly_minor=row.amount_minor // PER_MONTH.get(row.interval, 1),
                currency=row.currency,
            )
        )
    return found


def report_sections(
    conn: Connection, start: datetime, end: datetime, products: list[str] | None
) -> dict:
    found = visits(conn, start, end, products)
    if not found:
        return {}
    now = datetime.now(UTC)
    return {
        "cancel page": table(found, now),
        "cancel page: the alternative against its holdout": holdout(found, now),
    }
