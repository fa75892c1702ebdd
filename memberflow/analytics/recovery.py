"""Failed-payment recovery per currency over a period: cases opened, recovered, still open,
the amount won back and the median days it took (docs/metrics.md)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    and_,
    case,
    func,
    select,
)

from memberflow.analytics.metrics import (
    case_table,
    invoice,
    only_products,
    product,
    subscription,
)
from memberflow.analytics.period import Period
from memberflow.core.db import days_between
from memberflow.core.dunning_models import PAID_OUTCOMES


def recovery(
    conn: Connection,
    period: Period,
    products: Sequence[str] | None = None,
) -> dict:
    """Failed payments whose case opened in the period: per product and currency, and per
    currency by decline category and by what recovered them; median days to recover."""
    joined = (
        case_table.join(invoice, invoice.c.id == case_table.c.invoice_id)
        .join(subscription, subscription.c.id == case_table.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
    )
    recovered = case_table.c.outcome.in_(PAID_OUTCOMES)
    opened = [case_table.c.opened_at >= period.start, case_table.c.opened_at < period.end]
    if products:
        opened.append(product.c.external_id.in_(products))

    # one scan, grouped finely; the breakdowns add up its few groups
    by = func.coalesce(case_table.c.recovered_by, "not recovered")
    keys = [
        product.c.external_id.label("product"),
        invoice.c.currency.label("currency"),
        case_table.c.category.label("category"),
        by.label("by"),
    ]
    query = (
        select(
            *keys,
            func.count().label("opened"),
            func.sum(case((recovered, 1), else_=0)).label("recovered"),
            func.sum(case((case_table.c.status != "closed", 1), else_=0)).label("still_open"),
            func.coalesce(
                func.sum(case((recovered, case_table.c.recovered_minor), else_=0)), 0
            ).label("recovered_minor"),
        )
        .select_from(joined)
        .where(*opened)
        .group_by(*keys)
    )
    groups = [dict(row) for row in conn.execute(query).mappings()]

    def counted(*names: str) -> list[dict]:
        rows: dict[tuple, dict] = {}
        for group in groups:
            key = tuple(group[name] for name in names)
            row = rows.setdefault(key, {**dict(zip(names, key, strict=True)), **_NO_CASES})
            for measure in _NO_CASES:
                row[measure] += group[measure]
        for row in rows.values():
            row["recovery_rate"] = row["recovered"] / row["opened"]
        return [rows[key] for key in sorted(rows)]

    overall = counted("currency")
    for row in overall:
        row["median_days_to_recover"] = _median_days(conn, joined, opened, recovered, row)
    return {
        "by_product": counted("product", "currency"),
        "overall": overall,
        "by_category": counted("currency", "category"),
        "by_recovered_by": counted("currency", "by"),
    }


_NO_CASES = {"opened": 0, "recovered": 0, "still_open": 0, "recovered_minor": 0}


def _median_days(conn, joined, opened, recovered, row) -> float | None:
    """The median of (closed - opened) over the currency's recovered cases, in SQL: the middle
    one or two of them in order (no median() in SQLite)."""
    count = row["recovered"]
    if not count:
        return None
    days = days_between(conn.dialect.name, case_table.c.closed_at, case_table.c.opened_at)
    query = (
        select(days.label("days"))
        .select_from(joined)
        .where(*opened, recovered, invoice.c.currency == row["currency"])
        .order_by(days)
        .offset((count - 1) // 2)
        .limit(2 - count % 2)
    )
    middle = list(conn.execute(query).scalars())
    return sum(middle) / len(middle)


def recovery_over(
    conn: Connection, boundaries: Sequence[datetime], products: Sequence[str] | None
) -> list[dict[str, float | None]]:
    """Per period between the boundaries, per currency: recovered / opened."""
    recovered = case_table.c.outcome.in_(PAID_OUTCOMES)
    columns = []
    for k, (start, end) in enumerate(zip(boundaries, boundaries[1:], strict=False)):
        opened = and_(case_table.c.opened_at >= start, case_table.c.opened_at < end)
        columns += [
            func.sum(case((opened, 1), else_=0)).label(f"opened{k}"),
            func.sum(case((and_(opened, recovered), 1), else_=0)).label(f"recovered{k}"),
        ]
    joined = (
        case_table.join(invoice, invoice.c.id == case_table.c.invoice_id)
        .join(subscription, subscription.c.id == case_table.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
    )
    query = only_products(
        select(invoice.c.currency, *columns)
        .select_from(joined)
        .where(case_table.c.opened_at >= boundaries[0], case_table.c.opened_at < boundaries[-1])
        .group_by(invoice.c.currency),
        products,
    )
    found = list(conn.execute(query).mappings())
    return [
        {
            row["currency"]: row[f"recovered{k}"] / row[f"opened{k}"]
            for row in found
            if row[f"opened{k}"]
        }
        for k in range(len(boundaries) - 1)
    ]
