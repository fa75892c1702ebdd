"""The report's numbers, each one SQL aggregate over the recorded history (docs/metrics.md
gives every formula). Amounts stay in minor units and per currency: EUR and USD are never added.
A subscription is the unit of revenue; members are counted once per product and currency."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from memberflow.analytics.period import Period
from memberflow.core.models import (
    Cancellation,
    CaseOutcome,
    DunningCase,
    Invoice,
    Product,
    Subscription,
    Touchpoint,
)
from memberflow.core.revenue import monthly_minor

subscription, product = Subscription.__table__, Product.__table__
cancellation, case_table = Cancellation.__table__, DunningCase.__table__
invoice, touchpoint = Invoice.__table__, Touchpoint.__table__
RECOVERED = (CaseOutcome.recovered.value, CaseOutcome.paid_elsewhere.value)
ALL = "all"  # the row that covers every product (of one currency)


def started() -> ColumnElement:
    return func.coalesce(subscription.c.started_at, subscription.c.created_at)


def ended_by(moment: datetime) -> ColumnElement:
    """The subscription's access had ended at `moment`, and it had not come back by then. A
    canceled subscription memberflow holds no cancellation for ended at its period end."""
    gone = cancellation.alias("gone")  # the query may join cancellation itself
    left = exists().where(
        gone.c.subscription_id == subscription.c.id,
        gone.c.access_end <= moment,
        or_(gone.c.returned_at.is_(None), gone.c.returned_at > moment),
    )
    unrecorded = and_(
        subscription.c.status == "canceled",
        subscription.c.current_period_end <= moment,
        not_(exists().where(gone.c.subscription_id == subscription.c.id)),
    )
    return or_(left, unrecorded)


def active_at(moment: datetime) -> ColumnElement:
    """Started by `moment` (no start known: long before) and not ended by then."""
    begun = or_(started().is_(None), started() <= moment)
    return and_(begun, not_(ended_by(moment)))


def _by_product(query, grouping: Sequence[ColumnElement] = ()):
    keys = [product.c.external_id.label("product"), subscription.c.currency, *grouping]
    joined = query.select_from(
        subscription.join(product, product.c.id == subscription.c.product_id)
    )
    return joined.group_by(*keys).add_columns(*keys)


def _only(query, products: Sequence[str] | None):
    return query.where(product.c.external_id.in_(products)) if products else query


def churn(conn: Connection, period: Period, products: Sequence[str] | None = None) -> list[dict]:
    """Per product and currency: members and MRR at the start, what churned (voluntary and
    involuntary), net revenue retention. Plus one row per currency over every product."""
    base = _only(
        select(
            func.count(func.distinct(subscription.c.member_id)).label("members_at_start"),
            func.coalesce(func.sum(monthly_minor()), 0).label("mrr_at_start"),
            func.coalesce(
                func.sum(case((active_at(period.end), monthly_minor()), else_=0)), 0
            ).label("mrr_kept"),
        ).where(active_at(period.start)),
        products,
    )
    churned_join = subscription.join(product, product.c.id == subscription.c.product_id).join(
        cancellation, cancellation.c.subscription_id == subscription.c.id
    )
    lost = _only(
        select(
            product.c.external_id.label("product"),
            subscription.c.currency,
            cancellation.c.involuntary,
            func.count(func.distinct(subscription.c.member_id)).label("members"),
            func.coalesce(func.sum(monthly_minor()), 0).label("mrr"),
        )
        .select_from(churned_join)
        .where(
            cancellation.c.access_end >= period.start,
            cancellation.c.access_end < period.end,
            active_at(period.start),
        )
        .group_by(product.c.external_id, subscription.c.currency, cancellation.c.involuntary),
        products,
    )
    rows: dict[tuple[str, str], dict] = {}
    for found in conn.execute(_by_product(base)).mappings():
        rows[(found["product"], found["currency"])] = _churn_row(found)
    for found in conn.execute(lost).mappings():
        row = rows.setdefault((found["product"], found["currency"]), _churn_row(found))
        kind = "involuntary" if found["involuntary"] else "voluntary"
        row[f"churned_{kind}"] += found["members"]
        row[f"mrr_churned_{kind}"] += found["mrr"]
    totals: dict[str, dict] = {}
    for (_, currency), row in rows.items():
        total = totals.setdefault(currency, _churn_row({"product": ALL, "currency": currency}))
        for name, value in row.items():
            if name not in ("product", "currency"):
                total[name] += value
    return [_rates(row, period) for row in [*sorted(rows.values(), key=_order), *totals.values()]]


def _churn_row(found) -> dict:
    return {
        "product": found["product"],
        "currency": found["currency"],
        "members_at_start": found.get("members_at_start", 0),
        "mrr_at_start": found.get("mrr_at_start", 0.0),
        "mrr_kept": found.get("mrr_kept", 0.0),
        "churned_voluntary": 0,
        "churned_involuntary": 0,
        "mrr_churned_voluntary": 0.0,
        "mrr_churned_involuntary": 0.0,
    }


def _order(row: dict) -> tuple:
    return row["currency"], row["product"]


def _rates(row: dict, period: Period) -> dict:
    members, mrr = row["members_at_start"], row["mrr_at_start"]
    churned = row["churned_voluntary"] + row["churned_involuntary"]
    mrr_churned = row["mrr_churned_voluntary"] + row["mrr_churned_involuntary"]
    churn_rate = churned / members if members else None
    monthly_churn = churn_rate * 30 / period.days if churn_rate is not None else None
    arpu = mrr / members if members else None
    return {
        **row,
        "churned": churned,
        "churn_rate": churn_rate,
        "voluntary_churn_rate": row["churned_voluntary"] / members if members else None,
        "involuntary_churn_rate": row["churned_involuntary"] / members if members else None,
        "mrr_churn_rate": mrr_churned / mrr if mrr else None,
        "net_revenue_retention": row["mrr_kept"] / mrr if mrr else None,
        "arpu_monthly_minor": arpu,
        # the average member's revenue over their expected life: ARPU / monthly churn rate
        "lifetime_value_minor": arpu / monthly_churn if arpu and monthly_churn else None,
    }


def days_between(conn: Connection, later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def recovery(conn: Connection, period: Period, products: Sequence[str] | None = None) -> dict:
    """Failed payments whose case opened in the period: per product and currency, and per
    currency by decline category and by what recovered them; median days to recover."""
    joined = (
        case_table.join(invoice, invoice.c.id == case_table.c.invoice_id)
        .join(subscription, subscription.c.id == case_table.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
    )
    recovered = case_table.c.outcome.in_(RECOVERED)
    opened = [case_table.c.opened_at >= period.start, case_table.c.opened_at < period.end]
    if products:
        opened.append(product.c.external_id.in_(products))

    def counted(*keys: ColumnElement) -> list[dict]:
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
            .order_by(*keys)
        )
        rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:
            row["recovery_rate"] = row["recovered"] / row["opened"] if row["opened"] else None
        return rows

    currency = invoice.c.currency.label("currency")
    overall = counted(currency)
    for row in overall:
        row["median_days_to_recover"] = _median_days(conn, joined, opened, recovered, row)
    return {
        "by_product": counted(product.c.external_id.label("product"), currency),
        "overall": overall,
        "by_category": counted(currency, case_table.c.category.label("category")),
        "by_recovered_by": counted(
            currency, func.coalesce(case_table.c.recovered_by, "not recovered").label("by")
        ),
    }


def _median_days(conn, joined, opened, recovered, row) -> float | None:
    """The median of (closed - opened) over the currency's recovered cases, in SQL: the middle
    one or two of them in order (no median() in SQLite)."""
    count = row["recovered"]
    if not count:
        return None
    days = days_between(conn, case_table.c.closed_at, case_table.c.opened_at)
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


def tenure(conn: Connection, moment: datetime, products: Sequence[str] | None = None) -> list[dict]:
    """Per currency: subscriptions active at `moment` and their average age in days (those with
    no known start are left out of the average)."""
    age = days_between(conn, literal(moment), started())
    query = _only(
        select(
            subscription.c.currency,
            func.count().label("active"),
            func.avg(age).label("average_tenure_days"),
        )
        .select_from(subscription.join(product, product.c.id == subscription.c.product_id))
        .where(active_at(moment))
        .group_by(subscription.c.currency)
        .order_by(subscription.c.currency),
        products,
    )
    return [dict(row) for row in conn.execute(query).mappings()]
