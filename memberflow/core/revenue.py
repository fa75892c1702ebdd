"""Recurring revenue as SQL: what a subscription brings in a month, for every report that sums
it (analytics, a pipeline's own results)."""

from sqlalchemy import Float, case, cast
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.models import Subscription

subscription = Subscription.__table__


def monthly_minor() -> ColumnElement:
    """A subscription's monthly recurring revenue (MRR), in minor units: its amount if monthly,
    a twelfth of it if annual."""
    amount = cast(subscription.c.amount_minor, Float)
    return case((subscription.c.interval == "year", amount / 12), else_=amount)
