"""The retention report: churn, recovery, deliveries and lifetime value for a period, as
Prefect artifacts with stable keys (docs/metrics.md)."""

from datetime import UTC, datetime
from typing import Annotated

from prefect import flow
from pydantic import Field

from memberflow.analytics.period import Period
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from tasks.analytics import compute_report, publish_report


def report_run_name() -> str:
    """`retention 2026-11-03 to 2026-12-03 (monthly)`: the runs list says which period."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    as_of = params.get("as_of") or datetime.now(UTC)
    as_of = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    period = Period.ending(as_of, params.get("days", 30))
    products = params.get("products")
    return f"retention {period.label()}" + (f" ({', '.join(products)})" if products else "")


@flow(name="retention-report", flow_run_name=report_run_name)
def retention_report(
    as_of: datetime | None = None,
    days: Annotated[int, Field(ge=1, le=3660)] = 30,
    products: list[str] | None = None,
) -> str:
    """The `days` days up to `as_of` (default: now) beside the period before them.

    Args:
        as_of: The end of the period.
        days: Its length.
        products: Only these products (external ids); empty: every product.
    """
    from memberflow.analytics.report import markdown

    db = get_engine(get_settings().database_url)
    require_schema(db)
    period = Period.ending(as_of or datetime.now(UTC), days)
    report = compute_report(db, period, products)
    publish_report(report)
    return markdown(report)
