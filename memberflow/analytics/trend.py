"""Member churn and failed-payment recovery over consecutive periods: the trend chart's points."""

from collections.abc import Sequence

from sqlalchemy import (
    Connection,
)

from memberflow.analytics.churn import churn_over
from memberflow.analytics.metrics import (
    ALL,
)
from memberflow.analytics.period import Period
from memberflow.analytics.recovery import recovery_over


def spans_ending(last: Period, periods: int) -> list[Period]:
    """`periods` periods of the same length, one after the other, the last being `last`."""
    spans = [last]
    while len(spans) < periods:
        spans.insert(0, spans[0].previous())
    return spans


def trend(
    conn: Connection,
    spans: Sequence[Period],
    products: Sequence[str] | None = None,
) -> list[dict]:
    """Member churn and failed-payment recovery per currency for consecutive periods: the
    chart's points. Three scans whatever the number of periods (churn_over's two and
    recovery_over's one)."""
    boundaries = [spans[0].start, *(span.end for span in spans)]
    churned = churn_over(conn, boundaries, products)
    return trend_points(spans, churned, recovery_over(conn, boundaries, products))


def trend_points(
    spans: Sequence[Period],
    churned: list[list[dict]],
    recovered: list[dict[str, float | None]],
) -> list[dict]:
    """The trend from `churn_over` and `recovery_over` over the spans' boundaries."""
    rows = []
    for k, span in enumerate(spans):
        rates = {row["currency"]: row["churn_rate"] for row in churned[k] if row["product"] == ALL}
        for currency in sorted(set(rates) | set(recovered[k])):
            rows.append(
                {
                    "period_end": span.end,
                    "currency": currency,
                    "churn_rate": rates.get(currency),
                    "recovery_rate": recovered[k].get(currency),
                }
            )
    return rows
