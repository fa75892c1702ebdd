"""Catching up on lost webhooks (`memberflow reconcile stripe`, the `provider-reconcile` flow).

Stripe keeps its events for 30 days (`GET /v1/events`) and retries a webhook for up to 3 days:
an endpoint down longer than that has lost some for good. The reconcile lists the events since
a while before the newest one memberflow has, and each one the inbox does not have goes through
the ingress's own path (stored, applied, its Prefect event owed), marked `reconcile`. Lost
webhooks are an incident: the caller says so loudly when any were missing.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import stripe
from sqlalchemy import Engine, func, select

from memberflow.ingress import inbox
from memberflow.ingress.changes import Received
from memberflow.ingress.providers import stripe as provider
from memberflow.sync.listed import Summary

KEPT = timedelta(days=30)  # how long Stripe lists events
# Stripe retries a delivery for up to 3 days: an event older than the newest one memberflow has
# may still be missing (it failed while later ones went through)
RETRIED_FOR = timedelta(days=3)


@dataclass
class Reconciled:
    since: datetime
    listed: int = 0
    missing: Counter = field(default_factory=Counter)  # event type -> how many were applied now
    outcomes: Counter = field(default_factory=Counter)  # what applying them came to

    def rows(self) -> list[dict]:
        return [{"event type": kind, "missing": n} for kind, n in self.missing.most_common()]


def by_comparison(summary: Summary, now: datetime) -> Reconciled:
    """A reconcile of a provider without an event list (MemberPress, MemberMouse): a sync, whose
    objects found new or changed are what the webhooks missed."""
    missing = Counter({f"{kind} (differed)": n for kind, n in summary.differences().items()})
    return Reconciled(since=now, listed=summary.total, missing=missing, outcomes=Counter())


def reconcile_stripe(
    engine: Engine, stripe_client: stripe.StripeClient, now: datetime | None = None
) -> Reconciled:
    now = now or datetime.now(UTC)
    done = Reconciled(since=_since(engine, now))
    events = stripe_client.v1.events.list(
        params={"created": {"gte": int(done.since.timestamp())}, "limit": 100}
    )
    known = _known_since(engine, done.since)
    lost = []
    for found in events.auto_paging_iter():  # newest first, a page at a time
        done.listed += 1
        if found.type in provider.EVENT_TYPES and f"{provider.NAME}:{found.id}" not in known:
            lost.append(json.dumps(found.to_dict()).encode())
    for body in reversed(lost):  # in the order Stripe sent them
        try:
            change = provider.translate(Received({}, {}, body, now))
        except Exception as error:  # noqa: BLE001 - kept as failed, for `ingress reapply`
            accepted = inbox.accept_untranslatable(engine, provider.NAME, body, now, error)
            done.missing["(untranslatable)"] += 1
        else:
            accepted = inbox.accept(engine, change, body, now, source="reconcile")
            done.missing[change.event_type] += 1
        done.outcomes[accepted.status] += 1
    return done


def _since(engine: Engine, now: datetime) -> datetime:
    """A while before the newest Stripe event memberflow has (none: as far as Stripe keeps)."""
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(inbox.inbox.c.occurred_at)).where(
                inbox.inbox.c.provider == provider.NAME
            )
        ).scalar()
    oldest = now - KEPT
    return oldest if newest is None else max(oldest, newest - RETRIED_FOR)


def _known_since(engine: Engine, since: datetime) -> set[str]:
    """The inbox keys of the Stripe events memberflow has from `since` on (one query, not one
    per listed event): the same window the list covers, as an event's time is its own."""
    table = inbox.inbox
    with engine.connect() as conn:
        keys = conn.execute(
            select(table.c.key).where(
                table.c.provider == provider.NAME, table.c.occurred_at >= since
            )
        )
        return set(keys.scalars())
