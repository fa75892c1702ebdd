"""Hand-built histories for the analytics tests: subscriptions that started, left (and came
back), failed payments and how their cases ended, messages and what became of them."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select

from memberflow.analytics.period import Period
from memberflow.core.dunning_models import DunningCase
from memberflow.core.models import Cancellation, Invoice, Subscription, Touchpoint
from tests.support.clock import at
from tests.support.factories import add_subscription

NOVEMBER = Period(at("2026-11-01 00:00"), at("2026-12-01 00:00"))  # the tests' period: 30 days
JANUARY = at("2026-01-01 00:00")


def joined(engine: Engine, name: str, started: datetime, **fields) -> int:
    """A subscription `name` (member `m-<name>`) that started at `started`."""
    defaults = {"current_period_end": started, "amount_minor": 2000}
    sub_id = add_subscription(engine, name, **{**defaults, **fields})
    with engine.begin() as conn:
        conn.execute(
            Subscription.__table__.update()
            .where(Subscription.__table__.c.id == sub_id)
            .values(started_at=started, created_at=started)
        )
    return sub_id


def _ids(engine: Engine, name: str) -> tuple[int, int]:
    table = Subscription.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(table.c.id, table.c.member_id).where(table.c.external_id == name)
        ).one()


def left(
    engine: Engine,
    name: str,
    access_end: datetime,
    *,
    involuntary: bool = False,
    returned_at: datetime | None = None,
    won_back_by: str | None = None,
    won_back_offer: str | None = None,
) -> None:
    sub_id, member_id = _ids(engine, name)
    with engine.begin() as conn:
        conn.execute(
            insert(Cancellation.__table__).values(
                key=f"{sub_id}:{access_end.isoformat()}",
                subscription_id=sub_id,
                member_id=member_id,
                canceled_at=access_end,
                access_end=access_end,
                involuntary=involuntary,
                recorded_at=access_end,
                returned_at=returned_at,
                returned_how="reactivated" if returned_at else None,
                won_back_by=won_back_by,
                won_back_offer=won_back_offer,
            )
        )


def failed_payment(
    engine: Engine,
    name: str,
    opened: datetime,
    *,
    amount_minor: int = 2000,
    currency: str = "USD",
    category: str = "soft",
    closed: datetime | None = None,
    outcome: str | None = None,
    recovered_by: str | None = None,
) -> None:
    sub_id, _ = _ids(engine, name)
    recovered = outcome in ("recovered", "paid_elsewhere")
    with engine.begin() as conn:
        invoice_id = conn.execute(
            insert(Invoice.__table__)
            .values(
                external_id=f"in_{name}_{opened:%m%d}",
                subscription_id=sub_id,
                amount_minor=amount_minor,
                currency=currency,
                status="paid" if recovered else "open",
            )
            .returning(Invoice.__table__.c.id)
        ).scalar_one()
        conn.execute(
            insert(DunningCase.__table__).values(
                invoice_id=invoice_id,
                subscription_id=sub_id,
                status="closed" if closed else "open",
                category=category,
                opened_at=opened,
                closed_at=closed,
                outcome=outcome,
                recovered_by=recovered_by,
                recovered_minor=amount_minor if recovered else 0,
            )
        )


def recovered(engine: Engine, name: str, opened: datetime, days: int, by: str, **fields) -> None:
    """A failed payment that `by` (a retry, a card update) collected `days` after it failed."""
    failed_payment(
        engine,
        name,
        opened,
        closed=opened + timedelta(days=days),
        outcome="recovered",
        recovered_by=by,
        **fields,
    )


def message(engine: Engine, name: str, key: str, due: datetime, status: str, **fields) -> None:
    sub_id, _ = _ids(engine, name)
    pipeline, step, *_ = key.split(":")
    with engine.begin() as conn:
        conn.execute(
            insert(Touchpoint.__table__).values(
                key=key,
                pipeline=pipeline,
                step=step,
                channel=key.rsplit(":", 1)[1],
                subscription_id=sub_id,
                anchor_at=due,
                due_at=due,
                status=status,
                created_at=due,
                **fields,
            )
        )
