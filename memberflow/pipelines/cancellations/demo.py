"""What `memberflow demo` simulates around cancellations: members leaving (some at once, some at
the period's end, with Stripe's feedback values), a few coming back, one opting out of
marketing; and at the end, what the follow-up did."""

import random
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import Engine, false, func, select, update

from memberflow.core.models import Member
from memberflow.core.models import TouchpointStatus as Status
from memberflow.pipelines.cancellations.records import cancellation, subscription, touchpoint
from memberflow.pipelines.cancellations.steps import PIPELINE

member = Member.__table__
FEEDBACK = ["too_expensive", "unused", "missing_features", "switched_service", "other"]


def members_come_and_go(engine: Engine, as_of: datetime) -> dict:
    """One simulated day: up to two members cancel; every fourth day the member who left
    longest ago in the last ten days comes back; every sixth day one member opts out."""
    rng = random.Random(as_of.date().toordinal())
    day = as_of.date().toordinal()
    with engine.begin() as conn:
        staying = (
            conn.execute(
                select(subscription.c.id)
                .where(
                    subscription.c.status == "active",
                    subscription.c.cancel_at_period_end == false(),
                    subscription.c.canceled_at.is_(None),
                )
                .order_by(subscription.c.id)
            )
            .scalars()
            .all()
        )
        leaving = rng.sample(staying, k=min(len(staying), rng.choice([0, 1, 1, 2])))
        for subscription_id in leaving:
            at_period_end = rng.random() < 0.5
            values = {
                "canceled_at": as_of - timedelta(hours=rng.randint(1, 20)),
                "cancel_reason": "cancellation_requested",
                # some tell the provider why (Stripe asks); the others get the exit survey
                "cancel_feedback": rng.choice(FEEDBACK) if rng.random() < 0.4 else None,
                "provider_updated_at": as_of,
            }
            values |= {"cancel_at_period_end": True} if at_period_end else {"status": "canceled"}
            conn.execute(
                update(subscription).where(subscription.c.id == subscription_id).values(values)
            )
        back = 0
        if day % 4 == 0:
            returning = conn.execute(
                select(cancellation.c.subscription_id)
                .where(
                    cancellation.c.returned_at.is_(None),
                    cancellation.c.involuntary == false(),
                    cancellation.c.canceled_at > as_of - timedelta(days=10),
                )
                .order_by(cancellation.c.canceled_at)
                .limit(1)
            ).scalar_one_or_none()
            if returning is not None:
                conn.execute(
                    update(subscription)
                    .where(subscription.c.id == returning)
                    .values(
                        status="active",
                        cancel_at_period_end=False,
                        canceled_at=None,
                        provider_updated_at=as_of,
                    )
                )
                back = 1
        opted_out = 0
        if day % 6 == 0:
            consenting = (
                conn.execute(
                    select(member.c.id)
                    .where(member.c.marketing_consent, member.c.unsubscribed_at.is_(None))
                    .order_by(member.c.id)
                )
                .scalars()
                .all()
            )
            if consenting:
                conn.execute(
                    update(member)
                    .where(member.c.id == rng.choice(consenting))
                    .values(unsubscribed_at=as_of, marketing_consent=False)
                )
                opted_out = 1
    return {"canceled": len(leaving), "came back": back, "opted out": opted_out}


def outcome_summary(engine: Engine) -> list[dict]:
    """Cancellations by kind, what each step did, and who came back after which message."""
    with engine.connect() as conn:
        kinds = conn.execute(
            select(cancellation.c.involuntary, func.count()).group_by(cancellation.c.involuntary)
        ).all()
        back = conn.execute(
            select(cancellation.c.won_back_by.is_not(None), func.count())
            .where(cancellation.c.returned_at.is_not(None))
            .group_by(cancellation.c.won_back_by.is_not(None))
        ).all()
        steps = conn.execute(
            select(touchpoint.c.step, touchpoint.c.status, touchpoint.c.error, func.count())
            .where(touchpoint.c.pipeline == PIPELINE)
            .group_by(touchpoint.c.step, touchpoint.c.status, touchpoint.c.error)
        ).all()
    rows = [
        {"what": f"cancellations, {'involuntary' if involuntary else 'voluntary'}", "count": n}
        for involuntary, n in sorted(kinds)
    ]
    rows += [
        {"what": f"came back{', credited to a win-back' if credited else ''}", "count": n}
        for credited, n in sorted(back)
    ]
    outcomes: Counter = Counter()
    for step, status, error, n in steps:
        why = f" ({error})" if status in (Status.skipped, Status.held) and error else ""
        outcomes[f"{step}: {status}{why}"] += n
    rows += [{"what": what, "count": n} for what, n in sorted(outcomes.items())]
    return rows
