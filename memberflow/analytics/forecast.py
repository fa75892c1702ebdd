"""The coming days: what memberflow will send per day, pipeline and step (the engine's own
planning run ahead, writing nothing: memberflow.messaging.forecast), and the revenue at stake:
renewals and trial ends due, cards that expire before their next charge, open dunning cases."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select, union_all

from memberflow.core.db import date_of
from memberflow.core.dunning_models import CaseStatus, DunningCase
from memberflow.core.models import Invoice, Subscription
from memberflow.messaging import registry
from memberflow.messaging.forecast import Due, outbox_due, to_be_planned
from memberflow.messaging.protocols import DatePlanner
from memberflow.messaging.registry import load

subscription, invoice = Subscription.__table__, Invoice.__table__
dunning_case = DunningCase.__table__


@dataclass
class Forecast:
    start: datetime
    days: int
    messages: list[dict]  # day, pipeline, step, messages
    at_stake: list[dict]  # currency, what, subscriptions, amount_minor


def forecast(
    engine: Engine,
    start: datetime,
    days: int,
    pipelines: Sequence[str] | None = None,
    channel: str = "email",
) -> Forecast:
    """Messages due each day of [start, start + days), by the UTC date they fall due, from the
    registered pipelines (all, or those named), and what is at stake in that time."""
    end = start + timedelta(days=days)
    chosen = [
        registration
        for name, registration in registry.registered().items()
        if not pipelines or name in pipelines
    ]
    names = {pipeline.name for registration in chosen for pipeline in registration.messages()}
    counts: Counter[tuple[date, str, str]] = Counter()
    with engine.connect() as conn:
        for due, pipeline, step in _everything_due(conn, chosen, start, end, channel):
            if pipeline in names:
                counts[(due.date(), pipeline, step)] += 1
        at_stake = revenue_at_stake(conn, start, end)
    messages = [
        {"day": day.isoformat(), "pipeline": pipeline, "step": step, "messages": count}
        for (day, pipeline, step), count in sorted(counts.items())
    ]
    return Forecast(start, days, messages, at_stake)


def _everything_due(conn: Connection, chosen, start: datetime, end: datetime, channel: str):
    sources: list[Iterable[Due]] = [outbox_due(conn, start, end)]
    for registration in chosen:
        for pipeline in registration.messages():
            if isinstance(pipeline, DatePlanner):
                sources.append(to_be_planned(conn, pipeline, start, end, channel))
        if registration.forecast:
            sources.append(load(registration.forecast)(conn, start, end))
    for source in sources:
        yield from source


def revenue_at_stake(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Per currency, what falls due in [start, end): renewals (not set to cancel), trials that
    end, the charges a card will have expired before, and the open dunning cases' bills."""
    renewing = subscription.c.status == "active"
    trial_ending = subscription.c.status == "trialing"
    not_leaving = subscription.c.cancel_at_period_end.is_not(True)
    next_charge = case(
        (trial_ending, subscription.c.trial_end), else_=subscription.c.current_period_end
    )
    dialect = conn.dialect.name

    def charges(what: str, *conditions):
        return (
            select(
                subscription.c.currency,
                literal(what).label("what"),
                func.count().label("subscriptions"),
                func.sum(subscription.c.amount_minor).label("amount_minor"),
            )
            .where(*conditions)
            .group_by(subscription.c.currency)
        )

    due_soon = and_(next_charge >= start, next_charge < end, not_leaving)
    cases = (
        select(
            invoice.c.currency,
            literal("open dunning cases").label("what"),
            func.count().label("subscriptions"),
            func.sum(invoice.c.amount_minor).label("amount_minor"),
        )
        .join(invoice, invoice.c.id == dunning_case.c.invoice_id)
        .where(dunning_case.c.status.in_([CaseStatus.open, CaseStatus.paused]))
        .group_by(invoice.c.currency)
    )
    query = union_all(
        charges("renewals", renewing, due_soon),
        charges("trials ending", trial_ending, due_soon),
        charges(
            "charges after the card expires",
            or_(renewing, trial_ending),
            due_soon,
            subscription.c.card_valid_until < date_of(dialect, next_charge),
        ),
        cases,
    )
    order = ("renewals", "trials ending", "charges after the card expires", "open dunning cases")
    rows = [dict(row) for row in conn.execute(query).mappings()]
    return sorted(rows, key=lambda row: (row["currency"], order.index(row["what"])))
