"""A subscription's lifecycle as a history of facts, and the rules that settle its current state.

Each fact says what happened (`canceled`, `reactivated`), when it happened by its source's clock
(`occurred_at`), where it came from (a provider's event, memberflow's own action, an import)
and, by its position in the history table, when memberflow learned it. Nothing overwrites a
fact; the subscription's cancellation fields are derived from them by `settle`, whatever order
the facts arrived in:

- A cancellation *episode* is the cancellation facts after the latest reactivation.
- Its moment is the earliest cancellation in it: the member's request never moves (a
  period-end cancellation, then the deletion at the period's end, is one cancellation).
- Its cause is memberflow's own (dunning's final action) when memberflow cancelled or said it
  would: the provider's echo of memberflow's request (Stripe: `cancellation_requested`) is
  not the member's choice. Otherwise the earliest fact that gives a reason; feedback and
  comment likewise, each from the earliest fact that has one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, exists, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.db import insert_for
from memberflow.core.models import LifecycleFact, PlanningWatermark, Subscription

CANCELED, REACTIVATED = "canceled", "reactivated"
OWN_INTENT = "cancel_intent"  # memberflow is about to cancel at the provider (dunning)
OWN = "memberflow"  # the source of memberflow's own facts
ECHO_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Fact:
    kind: str  # canceled, reactivated, cancel_intent
    occurred_at: datetime
    source: str  # "stripe:evt_...", "memberflow:dunning", "import"
    reason: str | None = None
    feedback: str | None = None
    comment: str | None = None
    seq: int = 0  # its place in the history: the order memberflow learned it

    @property
    def own(self) -> bool:
        return self.source.split(":")[0] == OWN


@dataclass(frozen=True)
class Cancellation:
    """The cancellation in force, as settled from the facts; None fields are unknown."""

    canceled_at: datetime
    reason: str | None
    feedback: str | None
    comment: str | None
    learned_seq: int  # the latest fact of the episode: when memberflow last learned of it


def settle(facts: list[Fact]) -> Cancellation | None:
    """The cancellation in force after `facts` (in any order), or None if there is none."""
    ordered = sorted(set(facts), key=lambda f: (f.occurred_at, f.seq))  # a tie: learned order
    last = max((i for i, f in enumerate(ordered) if f.kind == REACTIVATED), default=-1)
    episode = ordered[last + 1 :]
    canceled = [f for f in episode if f.kind == CANCELED]
    if not canceled:
        return None
    ours = [f for f in episode if f.own and f.reason and _near(f, canceled[0])]
    reason = ours[0].reason if ours else _first(canceled, "reason")
    return Cancellation(
        canceled_at=canceled[0].occurred_at,
        reason=reason,
        feedback=_first(canceled, "feedback"),
        comment=_first(canceled, "comment"),
        learned_seq=max(f.seq for f in episode),
    )


def _near(own: Fact, cancellation: Fact) -> bool:
    """Whether memberflow's fact is about this cancellation: its record of it, or its request
    the provider carried out (its echo comes within seconds; a day allows for clocks and
    retries). An old request that failed does not make a later choice of the member's ours."""
    return own.kind == CANCELED or abs(cancellation.occurred_at - own.occurred_at) <= ECHO_WINDOW


def _first(facts: list[Fact], field: str) -> str | None:
    return next((getattr(f, field) for f in facts if getattr(f, field)), None)


# -- kept in the database ---------------------------------------------------------------------

BEFORE_HISTORY = "before-history"  # what a subscription said before its first recorded fact


def record_and_settle(
    conn: Connection, subscription_id: int, new: list[Fact], *, current: Cancellation | None
) -> Cancellation | None:
    """Adds `new` to the subscription's history (a fact already there, from the same source,
    is not added twice) and settles the history. `current` is what the subscription says now:
    kept as a fact of its own when it has no history yet (imported, or older than it)."""
    table, now = LifecycleFact.__table__, datetime.now(UTC)
    known = conn.execute(select(table.c.id).where(table.c.subscription_id == subscription_id))
    rows = []
    if current is not None and known.first() is None:
        rows.append(_row(subscription_id, _as_fact(current), now))
    rows += [_row(subscription_id, fact, now) for fact in new]
    if rows:
        statement = insert_for(conn.dialect.name, table).on_conflict_do_nothing(
            index_elements=["subscription_id", "kind", "source"]
        )
        conn.execute(statement, rows)
    return settle(history(conn, subscription_id))


def latest(conn: Connection) -> int:
    """The newest fact's place in the history: what memberflow has learned so far."""
    table = LifecycleFact.__table__
    return conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()


def learned_after(seq: int | None) -> ColumnElement:
    """Subscriptions with a fact learned after `seq` (a `subscription.id` correlated EXISTS)."""
    table, subscription = LifecycleFact.__table__, Subscription.__table__
    if seq is None:  # the pipeline's first run: its time window covers it
        return false()
    return exists().where(table.c.subscription_id == subscription.c.id, table.c.id > seq)


def reactivated_after(subscription_id: ColumnElement, moment: ColumnElement) -> ColumnElement:
    """When the subscription was first reactivated after `moment`, by the provider's clock
    (a scalar subquery; NULL when the history has no such fact). The fact keeps its time; the
    subscription's `provider_updated_at` moves with every later webhook."""
    table = LifecycleFact.__table__
    return (
        select(func.min(table.c.occurred_at))
        .where(
            table.c.subscription_id == subscription_id,
            table.c.kind == REACTIVATED,
            table.c.occurred_at >= moment,
        )
        .scalar_subquery()
    )


def history(conn: Connection, subscription_id: int) -> list[Fact]:
    """The subscription's facts in the order memberflow learned them."""
    table = LifecycleFact.__table__
    query = select(table).where(table.c.subscription_id == subscription_id).order_by(table.c.id)
    return [
        Fact(r.kind, r.occurred_at, r.source, r.reason, r.feedback, r.comment, seq=r.id)
        for r in conn.execute(query)
    ]


def _as_fact(current: Cancellation) -> Fact:
    return Fact(
        CANCELED,
        current.canceled_at,
        BEFORE_HISTORY,
        current.reason,
        current.feedback,
        current.comment,
    )


def _row(subscription_id: int, fact: Fact, now: datetime) -> dict:
    return {
        "subscription_id": subscription_id,
        "kind": fact.kind,
        "occurred_at": fact.occurred_at,
        "learned_at": now,
        "source": fact.source[:200],
        "reason": fact.reason,
        "feedback": fact.feedback,
        "comment": fact.comment,
    }


# -- what a pipeline has learned: its watermark in the history ---------------------------------

watermark = PlanningWatermark.__table__


def learned_through(conn: Connection, *, pipeline: str) -> int | None:
    """The last lifecycle fact the pipeline had seen at its last run (None: it never ran)."""
    query = select(watermark.c.learned_through).where(watermark.c.pipeline == pipeline)
    return conn.execute(query).scalar_one_or_none()


def advance_learned(conn: Connection, *, pipeline: str, seq: int, since: datetime) -> None:
    """Moves the pipeline's learned watermark to `seq`, never back. A pipeline without a row
    yet gets one that says planning is done through `since` (where this run started)."""
    now = datetime.now(UTC)
    statement = insert_for(conn.dialect.name, watermark).values(
        pipeline=pipeline, planned_through=since, learned_through=seq, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["pipeline"],
        set_={"learned_through": seq},
        where=or_(watermark.c.learned_through.is_(None), watermark.c.learned_through < seq),
    )
    conn.execute(statement)
