"""Members and subscriptions for tests, written through the same models the app uses."""

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from memberflow.core.models import Member, Product, Subscription
from memberflow.core.schedule import card_valid_until


def add_subscription(
    engine: Engine,
    external_id: str,
    *,
    current_period_end: datetime,
    member: str | None = None,
    product: str = "monthly",
    status: str = "active",
    interval: str = "month",
    amount_minor: int = 1999,
    currency: str = "USD",
    trial_end: datetime | None = None,
    card: tuple[int, int] | None = None,
    locale: str = "en",
    time_zone: str = "UTC",
    first_name: str = "Ada",
    email: str | None = None,
) -> int:
    member_id = member or f"m-{external_id}"
    with Session(engine) as session:
        found = session.exec(select(Product).where(Product.external_id == product)).first()
        prod = found or Product(external_id=product, name=product.title() + " Club")
        session.add(prod)
        found = session.exec(select(Member).where(Member.external_id == member_id)).first()
        person = found or Member(
            external_id=member_id,
            email=email or f"{member_id}@example.com",
            first_name=first_name,
            locale=locale,
            time_zone=time_zone,
        )
        session.add(person)
        session.flush()
        sub = Subscription(
            external_id=external_id,
            member_id=person.id,
            product_id=prod.id,
            status=status,
            amount_minor=amount_minor,
            currency=currency,
            interval=interval,
            current_period_end=current_period_end,
            trial_end=trial_end,
            card_last4="4242" if card else None,
            card_exp_month=card[0] if card else None,
            card_exp_year=card[1] if card else None,
            card_valid_until=card_valid_until(*card) if card else None,
        )
        session.add(sub)
        session.commit()
        return sub.id


def update_subscription(engine: Engine, external_id: str, **values) -> None:
    with Session(engine) as session:
        sub = session.exec(
            select(Subscription).where(Subscription.external_id == external_id)
        ).one()
        for name, value in values.items():
            setattr(sub, name, value)
        session.add(sub)
        session.commit()
