"""The cancel page's visits and decisions, in the `cancel_visit` table.

A visit is keyed by its link's digest: a double submit, a second tab or a reload is the same
visit, so a decision is recorded once. A subscription has at most one decision waiting to be
carried out: a second link's visit finds it and says so.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select, update

from memberflow.core.db import insert_new
from memberflow.core.models import CancelVisit, Member, Product, Subscription

visit = CancelVisit.__table__
subscription = Subscription.__table__
member = Member.__table__
product = Product.__table__


def link_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Membership:
    """What the first screen shows: the subscription as memberflow has it now."""

    subscription_id: int
    external_id: str
    member_id: int
    product_external_id: str
    product_name: str
    status: str
    amount_minor: int
    currency: str
    interval: str
    current_period_end: datetime
    cancel_at_period_end: bool
    locale: str
    time_zone: str

    @property
    def ended(self) -> bool:
        return self.status in ("canceled", "incomplete_expired")


def membership(conn: Connection, member_id: int, external_id: str) -> Membership | None:
    """The member's subscription the link names (None: not theirs, or unknown)."""
    row = conn.execute(
        select(
            subscription.c.id,
            subscription.c.external_id,
            subscription.c.member_id,
            product.c.external_id.label("product_external_id"),
            product.c.name,
            subscription.c.status,
            subscription.c.amount_minor,
            subscription.c.currency,
            subscription.c.interval,
            subscription.c.current_period_end,
            subscription.c.cancel_at_period_end,
            member.c.locale,
            member.c.time_zone,
        )
        .join(product, product.c.id == subscription.c.product_id)
        .join(member, member.c.id == subscription.c.member_id)
        .where(subscription.c.external_id == external_id, subscription.c.member_id == member_id)
    ).first()
    return Membership(*row) if row else None


def record_open(conn: Connection, key: str, found: Membership, now: datetime) -> None:
    """The page was opened (once per link: a reload, a scanner's fetch add nothing)."""
    insert_new(
        conn,
        visit,
        [
            {
                "link_key": key,
                "member_id": found.member_id,
                "subscription_id": found.subscription_id,
                "opened_at": now,
                "withheld": False,
                "attempts": 0,
            }
        ],
        unique="link_key",
    )


def record_reason(
    conn: Connection,
    key: str,
    found: Membership,
    *,
    reason: str | None,
    comment: str | None,
    offered: dict | None,
    withheld: bool,
    now: datetime,
) -> None:
    """What the member said and what the confirmation screen shows them; while nothing is
    decided, a second answer replaces the first."""
    record_open(conn, key, found, now)
    conn.execute(
        update(visit)
        .where(visit.c.link_key == key, visit.c.decision.is_(None))
        .values(
            reason=reason,
            comment=comment,
            offered=json.dumps(offered) if offered else None,
            withheld=withheld,
            confirm_shown_at=now,
        )
    )


@dataclass(frozen=True)
class Decided:
    decision: str
    decided_at: datetime
    carried_out_at: datetime | None
    offered: dict | None


def decision_of(conn: Connection, subscription_id: int) -> Decided | None:
    """The subscription's decision waiting to be carried out, or the latest one carried out."""
    row = conn.execute(
        select(visit.c.decision, visit.c.decided_at, visit.c.carried_out_at, visit.c.offered)
        .where(visit.c.subscription_id == subscription_id, visit.c.decision.is_not(None))
        .order_by(visit.c.carried_out_at.is_not(None), visit.c.decided_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Decided(row.decision, row.decided_at, row.carried_out_at, _json(row.offered))


def shown_on(conn: Connection, key: str) -> dict | None:
    """The alternative this visit's confirmation screen showed (None: none, or withheld)."""
    row = conn.execute(
        select(visit.c.offered, visit.c.withheld).where(visit.c.link_key == key)
    ).first()
    return None if row is None or row.withheld else _json(row.offered)


def record_decision(
    conn: Connection, key: str, found: Membership, decision: str, now: datetime
) -> bool:
    """Records the member's decision on this visit, unless it or another visit of the same
    subscription already has one waiting: True when this call recorded it."""
    record_open(conn, key, found, now)
    waiting = conn.execute(
        select(visit.c.id).where(
            visit.c.subscription_id == found.subscription_id,
            visit.c.decision.is_not(None),
            visit.c.carried_out_at.is_(None),
        )
    ).first()
    if waiting is not None:
        return False
    done = conn.execute(
        update(visit)
        .where(and_(visit.c.link_key == key, visit.c.decision.is_(None)))
        .values(decision=decision, decided_at=now)
    )
    return done.rowcount == 1


def _json(text: str | None) -> dict | None:
    return json.loads(text) if text else None
