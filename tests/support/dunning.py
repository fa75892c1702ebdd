"""A failed renewal, and a day of dunning run with the core functions (no Prefect)."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, select

from memberflow.core.dunning_models import DunningCase
from memberflow.core.models import Invoice, Subscription
from memberflow.core.settings import Settings
from memberflow.pipelines.dunning.advance import Advance, Channels, advance_batch
from memberflow.pipelines.dunning.notices import NoticePipeline
from memberflow.pipelines.dunning.policy import DunningPolicy
from memberflow.pipelines.dunning.queries import open_cases
from tests.support.delivery import deliver_all
from tests.support.factories import add_subscription


def failed_renewal(
    engine: Engine,
    name: str,
    *,
    card: str,
    decline: str | None,
    failed_at: datetime,
    amount_minor: int = 1999,
    product: str = "monthly",
    locale: str = "en",
    time_zone: str = "UTC",
    hosted_url: str | None = None,
    member: str | None = None,
) -> int:
    """A member whose renewal on `card` (last four digits) failed with `decline`; the invoice id."""
    sub_id = add_subscription(
        engine,
        f"sub_{name}",
        current_period_end=failed_at + timedelta(days=30),
        product=product,
        status="past_due",
        amount_minor=amount_minor,
        card=(12, 2030),
        locale=locale,
        time_zone=time_zone,
        first_name=name.title(),
        member=member,
    )
    set_card(engine, f"sub_{name}", card)
    with Session(engine) as session:
        invoice = Invoice(
            external_id=f"in_{name}",
            subscription_id=sub_id,
            amount_minor=amount_minor,
            currency="USD",
            attempt_count=1,
            decline_code=decline,
            hosted_url=hosted_url,
            provider_updated_at=failed_at,
        )
        session.add(invoice)
        session.commit()
        return invoice.id


def set_card(engine: Engine, subscription: str, last4: str, exp=(12, 2030)) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Subscription.__table__)
            .where(Subscription.__table__.c.external_id == subscription)
            .values(card_last4=last4, card_exp_month=exp[0], card_exp_year=exp[1])
        )


def pay_invoice(engine: Engine, external_id: str, at: datetime) -> None:
    """What the ingress does on a provider's `invoice.paid`."""
    with engine.begin() as conn:
        conn.execute(
            update(Invoice.__table__)
            .where(Invoice.__table__.c.external_id == external_id)
            .values(status="paid", paid_at=at, provider_updated_at=at)
        )


def case_of(engine: Engine, invoice_id: int) -> DunningCase:
    with Session(engine) as session:
        return session.exec(select(DunningCase).where(DunningCase.invoice_id == invoice_id)).one()


def advance(engine, gateway, as_of, policy=None, invoice_ids=None) -> Advance:
    policy = policy or DunningPolicy()
    open_cases(engine, as_of=as_of, policy=policy, invoice_ids=invoice_ids)
    total, cursor = Advance(), 0
    while cursor is not None:
        cursor, done = advance_batch(
            engine,
            policy=policy,
            gateway=gateway,
            as_of=as_of,
            after_id=cursor,
            limit=2,  # several batches even in small tests
            channels=Channels(),
            invoice_ids=invoice_ids,
        )
        total.add(done)
    return total


def deliver(engine, settings: Settings, as_of, member_out, ops_out) -> None:
    deliver_all(engine, settings, NoticePipeline(), member_out, as_of)
    deliver_all(engine, settings, NoticePipeline(True), ops_out, as_of)


def run_day(engine, settings, gateway, as_of, member_out, ops_out, policy=None):
    done = advance(engine, gateway, as_of, policy)
    deliver(engine, settings, as_of, member_out, ops_out)
    return done


def subscription_of(engine: Engine, external_id: str) -> Subscription:
    with Session(engine) as session:
        query = select(Subscription).where(Subscription.external_id == external_id)
        return session.exec(query).one()
