"""What `memberflow demo` simulates around dunning: a payment provider charging renewals with
the sandbox's test cards, members putting in new cards, and the cases' outcomes at the end."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, select, update

from memberflow.core.charges import TEST_CARDS, ChargeStatus
from memberflow.core.money import format_money
from memberflow.core.schedule import add_interval
from memberflow.pipelines.dunning.queries import case, invoice, subscription


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


def outcome_summary(engine: Engine) -> list[dict]:
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
