"""Churn per product and currency over a period, with revenue, ARPU and lifetime value, and
the tenure table: memberships at the start, started, gone and active at the end
(docs/metrics.md)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Connection,
    case,
    exists,
    false,
    func,
    literal,
    null,
    select,
    union_all,
)

from memberflow.analytics.metrics import (
    ALL,
    cancellation,
    only_products,
    product,
    started,
    subscription,
)
from memberflow.analytics.period import Period
from memberflow.core.db import days_between
from memberflow.core.revenue import monthly_minor


def churn(conn: Connection, period: Period, products: Sequence[str] | None = None) -> list[dict]:
    """Per product and currency: memberships and MRR at the start, those that left (by choice
    and by failed payments), net revenue retention. Plus one row per currency over every
    product."""
    return churn_over(conn, [period.start, period.end], products)[0]


def churn_over(
    conn: Connection, boundaries: Sequence[datetime], products: Sequence[str] | None = None
) -> list[list[dict]]:
    """`churn` for each period between consecutive `boundaries`, in two scans whatever their
    number: one over the subscriptions (started by each boundary), one over the times they
    were gone (a cancellation until its return). A membership is active at t when it had
    started and no gone-interval covers t; those intervals never overlap (one returns before
    leaving again), so active = started - covered, summed without a lookup per row."""
    counts = _memberships(conn, boundaries, products)
    periods = [Period(a, b) for a, b in zip(boundaries, boundaries[1:], strict=False)]
    results = []
    for k, period in enumerate(periods):
        rows = {
            key: {
                "product": key[0],
                "currency": key[1],
                "members_at_start": found.get(f"n{k}", 0) - found.get(f"gone_n{k}", 0),
                "mrr_at_start": found.get(f"m{k}", 0.0) - found.get(f"gone_m{k}", 0.0),
                "mrr_kept": found.get(f"m{k}", 0.0)
                - found.get(f"gone_m{k}", 0.0)
                - found.get(f"lost_m{k}", 0.0),
                "churned_voluntary": found.get(f"left_v{k}", 0),
                "churned_involuntary": found.get(f"left_i{k}", 0),
                "mrr_churned_voluntary": found.get(f"left_vm{k}", 0.0),
                "mrr_churned_involuntary": found.get(f"left_im{k}", 0.0),
            }
            for key, found in counts.items()
        }
        if k == len(periods) - 1:
            for key, row in rows.items():
                found = counts[key]
                row["active_at_end"] = found.get(f"n{k + 1}", 0) - found.get(f"gone_n{k + 1}", 0)
                row["age_days"] = found.get("age_days", 0.0) - found.get("gone_age_days", 0.0)
                row["aged"] = found.get("aged", 0) - found.get("gone_aged", 0)
        rows = {
            key: row
            for key, row in rows.items()
            if row["members_at_start"] or _left(row) or row.get("active_at_end")
        }
        totals: dict[str, dict] = {}
        for (_, currency), row in rows.items():
            total = totals.setdefault(currency, _churn_row({"product": ALL, "currency": currency}))
            for name, value in row.items():
                if name not in ("product", "currency"):
                    total[name] = total.get(name, 0) + value
        ordered = [*sorted(rows.values(), key=_order), *totals.values()]
        results.append([_rates(row, period) for row in ordered])
    return results


def _left(row: dict) -> int:
    return row["churned_voluntary"] + row["churned_involuntary"]


def _memberships(
    conn: Connection, boundaries: Sequence[datetime], products: Sequence[str] | None
) -> dict[tuple[str, str], dict]:
    """Per product and currency, the counts `churn_over` needs, for every boundary k: `n{k}`,
    `m{k}` (started by it: memberships, MRR), `gone_n{k}`, `gone_m{k}` (of those, gone at it);
    for every period k: `left_v{k}`, `left_i{k}` and their MRR `left_vm{k}`, `left_im{k}`
    (the base's first leaving in it, by choice, by failed payments), `lost_m{k}` (the base's
    MRR still gone at its end); and the ages at the last boundary.

    SQL does the scans, grouping each row by where its moments fall among the boundaries (a
    short CASE each); the conditions per boundary are then worked out on those few groups."""
    last = len(boundaries) - 1
    mrr = monthly_minor()
    keys = [product.c.external_id.label("product"), subscription.c.currency]
    joined = subscription.join(product, product.c.id == subscription.c.product_id)

    def lt(moment):  # how many boundaries lie before the moment: moment <= b[k] iff lt <= k
        whens = [(moment <= b, k) for k, b in enumerate(boundaries)]
        return case((moment.is_(None), -1), *whens, else_=len(boundaries))

    age = days_between(conn.dialect.name, literal(boundaries[-1]), started())
    known = started().is_not(None)
    measures = [
        func.count().label("count"),
        func.sum(mrr).label("mrr"),
        func.sum(case((known, age), else_=0.0)).label("age_days"),
        func.sum(case((known, 1), else_=0)).label("aged"),
    ]
    began = lt(started()).label("began")
    query = only_products(
        select(*keys, began, *measures).select_from(joined).group_by(*keys, began), products
    )
    found: dict[tuple[str, str], dict] = {}
    for group in conn.execute(query).mappings():
        row = found.setdefault((group["product"], group["currency"]), {})
        for k in range(len(boundaries)):
            if group["began"] <= k:  # started by boundary k (-1: no start known)
                row[f"n{k}"] = row.get(f"n{k}", 0) + group["count"]
                row[f"m{k}"] = row.get(f"m{k}", 0.0) + group["mrr"]
        if group["began"] <= last:
            row["age_days"] = row.get("age_days", 0.0) + group["age_days"]
            row["aged"] = row.get("aged", 0) + group["aged"]

    gone = _gone_intervals()
    at = {
        "began": lt(started()),
        "end_lt": lt(gone.c.access_end),
        "back_lt": lt(gone.c.returned_at),
        "prev_lt": lt(gone.c.prev_end),
        "prev_back_lt": lt(gone.c.prev_returned),
    }
    bucketed = [expression.label(name) for name, expression in at.items()]
    kind = gone.c.involuntary.label("involuntary")
    query = only_products(
        select(*keys, kind, *bucketed, *measures)
        .select_from(joined.join(gone, gone.c.subscription_id == subscription.c.id))
        .group_by(*keys, kind, *bucketed),
        products,
    )
    for group in conn.execute(query).mappings():
        row = found.setdefault((group["product"], group["currency"]), {})
        _add_gone(row, group, len(boundaries))
    return found


def _add_gone(row: dict, group: dict, boundaries: int) -> None:
    """One group of gone-intervals (same buckets) added to its product's counts."""
    count, mrr = group["count"], group["mrr"]

    def add(name: str, value) -> None:
        row[name] = row.get(name, 0) + value

    def covered(k: int, end_lt: int, back_lt: int) -> bool:  # end <= b[k] < return (or none)
        return end_lt != -1 and end_lt <= k and (back_lt == -1 or back_lt > k)

    for k in range(boundaries):
        began = group["began"] <= k
        if began and covered(k, group["end_lt"], group["back_lt"]):
            add(f"gone_n{k}", count)
            add(f"gone_m{k}", mrr)
            if k == boundaries - 1:
                add("gone_age_days", group["age_days"])
                add("gone_aged", group["aged"])
        if k == boundaries - 1:
            break
        # in period k's base: started by b[k], and the interval before this one no longer
        # covered b[k]
        in_base = began and not covered(k, group["prev_lt"], group["prev_back_lt"])
        if not in_base:
            continue
        # it stopped being active in the period (b[k] < end <= b[k+1]): active at b[k], gone
        # at b[k+1]; counted once, at its first leaving (the one before ended by b[k])
        if group["end_lt"] != k + 1:
            continue
        if group["prev_lt"] <= k:  # -1: no leaving before
            if group["involuntary"]:
                add(f"left_i{k}", count)
                add(f"left_im{k}", mrr)
            else:
                add(f"left_v{k}", count)
                add(f"left_vm{k}", mrr)
        if group["back_lt"] == -1 or group["back_lt"] > k + 1:  # not back by b[k+1]
            add(f"lost_m{k}", mrr)


def _gone_intervals():
    """When each subscription was gone: every cancellation, from its end of access to the
    member's return (if any), with the interval before it; and a subscription canceled with
    no cancellation recorded (imported so), gone from its period end."""
    lag = {"partition_by": cancellation.c.subscription_id, "order_by": cancellation.c.access_end}
    recorded = select(
        cancellation.c.subscription_id,
        cancellation.c.access_end,
        cancellation.c.returned_at,
        cancellation.c.involuntary,
        func.lag(cancellation.c.access_end).over(**lag).label("prev_end"),
        func.lag(cancellation.c.returned_at).over(**lag).label("prev_returned"),
    )
    unrecorded = select(
        subscription.c.id,
        subscription.c.current_period_end,
        null(),
        false(),
        null(),
        null(),
    ).where(
        subscription.c.status == "canceled",
        ~exists().where(cancellation.c.subscription_id == subscription.c.id),
    )
    return union_all(recorded, unrecorded).subquery("gone")


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
    aged = row.pop("aged", None)
    age_days = row.pop("age_days", None)
    if aged is not None:
        row["average_tenure_days"] = age_days / aged if aged else None
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


def tenure(conn: Connection, moment: datetime, products: Sequence[str] | None = None) -> list[dict]:
    """Per currency: memberships active at `moment` and their average age in days (those with
    no known start are left out of the average)."""
    last = churn_over(conn, [moment - timedelta(days=1), moment], products)[0]
    return tenure_of(last)


def tenure_of(churn_rows: list[dict]) -> list[dict]:
    """The tenure table from the churn rows of a period ending at the moment asked."""
    return [
        {
            "currency": row["currency"],
            "active": row["active_at_end"],
            "average_tenure_days": row["average_tenure_days"],
        }
        for row in churn_rows
        if row["product"] == ALL
    ]
