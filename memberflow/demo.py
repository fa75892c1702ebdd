"""The demo business: three products, a few hundred members in several zones and locales."""

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, and_, select, update

from memberflow.core.money import format_money
from memberflow.core.schedule import add_interval
from memberflow.messaging.store import invoice, subscription
from memberflow.pipelines.dunning.cases import case
from memberflow.pipelines.dunning.charges import TEST_CARDS, ChargeStatus

PRODUCTS = [
    # external id, name, interval, amount (minor), currency, value amplifier
    (
        "club-monthly",
        "Makers Club Monthly",
        "month",
        1900,
        "USD",
        "New this month: three workshops on hand-cut joinery and a members-only Q&A.",
    ),
    (
        "club-annual",
        "Makers Club Annual",
        "year",
        19000,
        "USD",
        "Annual members get the print magazine and 20% off every course.",
    ),
    ("club-europe", "Makers Club Europe", "month", 1500, "EUR", None),
]
ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Frances",
    "Dennis",
    "Radia",
    "Tim",
    "Hedy",
    "Niklaus",
    "Katherine",
    "Guido",
    "Élodie",
    "Anaïs",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Allen",
    "Ritchie",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Wirth",
    "Johnson",
    "Dupont",
]


def demo_rows(start: datetime, members: int = 300, seed: int = 7) -> list[dict]:
    """CSV rows (see the README's import columns) for a deterministic demo population."""
    rng = random.Random(seed)
    rows = []
    for n in range(1, members + 1):
        product_id, name, interval, amount, currency, amplifier = rng.choice(PRODUCTS)
        french = currency == "EUR" or rng.random() < 0.15
        zone = "Europe/Paris" if currency == "EUR" else rng.choice(ZONES)
        horizon = 40 if interval == "month" else 75
        period_end = start + timedelta(days=rng.randint(1, horizon), hours=rng.randint(0, 23))
        trialing = interval == "year" and rng.random() < 0.3
        status = "canceled" if rng.random() < 0.05 else ("trialing" if trialing else "active")
        card_month_offset = rng.choice([0, 1, 2, 6, 14, 26])
        expiry = start + timedelta(days=31 * card_month_offset)
        rows.append(
            {
                "member_external_id": f"mem_{n:04d}",
                "email": f"member{n:04d}@example.com",
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "locale": "fr" if french else "en",
                "time_zone": zone,
                "billing_address": f"{rng.randint(1, 99)} Demo Street"
                if rng.random() < 0.6
                else "",
                "shipping_address": f"{rng.randint(1, 99)} Parcel Lane"
                if rng.random() < 0.2
                else "",
                "product_external_id": product_id,
                "product_name": name,
                "product_value_amplifier": amplifier or "",
                "subscription_external_id": f"sub_{n:04d}",
                "status": status,
                "amount_minor": amount,
                "currency": currency,
                "interval": interval,
                "current_period_end": period_end.isoformat(),
                "trial_end": period_end.isoformat() if status == "trialing" else "",
                "card_last4": _demo_card(rng),
                "card_expiry": f"{expiry.month:02d}/{expiry.year}",
            }
        )
    return rows


# About one renewal in eight fails, for the reasons small businesses see most.
FAILING_CARDS = ["9995"] * 5 + ["0002"] * 3 + ["0069"] * 4 + ["9979"] + ["0000"]


def _demo_card(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return rng.choice(FAILING_CARDS)
    while (last4 := f"{rng.randint(0, 9999):04d}") in TEST_CARDS:
        pass
    return last4


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def renew_due(engine: Engine, as_of: datetime) -> tuple[int, int]:
    """Stands in for the payment provider: charges what fell due by `as_of` on the member's card
    (the sandbox's test cards decide), records the invoice, ends finished trials.

    A failed charge leaves an open invoice with its decline code and the subscription past due,
    as Stripe does; dunning takes it from there. Returns (renewed, failed).
    """
    renewed = failed = 0
    with engine.begin() as conn:
        due = conn.execute(
            subscription.select().where(
                and_(
                    subscription.c.status.in_(["active", "trialing"]),
                    subscription.c.current_period_end <= as_of,
                )
            )
        ).all()
        for row in due:
            status, decline = TEST_CARDS.get(row.card_last4, (ChargeStatus.succeeded, None))
            paid = status is ChargeStatus.succeeded
            conn.execute(
                invoice.insert().values(
                    external_id=f"in_{row.external_id}_{row.current_period_end:%Y%m%d}",
                    subscription_id=row.id,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    status="paid" if paid else "open",
                    attempt_count=1,
                    decline_code=None if paid else decline or "processing_error",
                    paid_at=row.current_period_end if paid else None,
                    provider_updated_at=row.current_period_end,
                )
            )
            conn.execute(
                update(subscription)
                .where(subscription.c.id == row.id)
                .values(
                    status="active" if paid else "past_due",
                    current_period_end=add_interval(row.current_period_end, row.interval),
                    trial_end=None,
                )
            )
            renewed, failed = renewed + paid, failed + (not paid)
    return renewed, failed


def members_update_cards(engine: Engine, as_of: datetime) -> int:
    """Half the members told their card expired put in a new one two days later."""
    two_days_ago = as_of - timedelta(days=2)
    with engine.begin() as conn:
        waiting = conn.execute(
            select(subscription.c.id)
            .join(case, case.c.subscription_id == subscription.c.id)
            .where(
                case.c.status == "open",
                case.c.decline_code == "expired_card",
                case.c.opened_at <= two_days_ago,
                subscription.c.card_last4 == "0069",
                subscription.c.id % 2 == 0,
            )
        ).scalars()
        ids = list(waiting)
        conn.execute(
            update(subscription)
            .where(subscription.c.id.in_(ids))
            .values(card_last4="4242", card_exp_month=12, card_exp_year=as_of.year + 3)
        )
    return len(ids)


def dunning_summary(engine: Engine) -> list[dict]:
    """Cases by how they ended and which step ended them, with the money and the days."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                case.c.status,
                case.c.outcome,
                case.c.recovered_by,
                invoice.c.currency,
                invoice.c.amount_minor,
                case.c.opened_at,
                case.c.closed_at,
            ).join(invoice, invoice.c.id == case.c.invoice_id)
        ).all()
    groups: dict[tuple, list] = {}
    for row in rows:
        state = row.outcome or ("gateway alert, waiting" if row.status == "paused" else "open")
        groups.setdefault((state, row.recovered_by or ""), []).append(row)
    summary = []
    for (outcome, by), members in sorted(groups.items()):
        days = [(r.closed_at - r.opened_at).days for r in members if r.closed_at]
        amounts: dict[str, int] = {}
        for r in members:
            amounts[r.currency] = amounts.get(r.currency, 0) + r.amount_minor
        summary.append(
            {
                "outcome": outcome,
                "by": by,
                "cases": len(members),
                "amount": ", ".join(format_money(v, c, "en") for c, v in sorted(amounts.items())),
                "avg_days": round(sum(days) / len(days), 1) if days else None,
            }
        )
    return summary


def demo_start(today: datetime | None = None) -> datetime:
    """09:00 UTC today: the demo's first simulated run."""
    now = today or datetime.now(UTC)
    return now.replace(hour=9, minute=0, second=0, microsecond=0)
