"""Carrying out the decisions members made on the cancel page, at the provider.

A decision is recorded before anything else (records.py); this makes it true at the provider
through the gateway Block, one idempotency key per decision, so a retry never does it twice. A
provider that refuses now leaves the decision recorded and counted as an attempt: the next run
tries again. One that cannot do it at all (a gateway without the call) is listed for ops with
exactly what to do; a member who asked for a person gets a ticket to ops (tickets.py). A
decision older than the time allowed and still not carried out is overdue: the flow fails, and
ops are told.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from memberflow.core.charges import DecisionRequest
from memberflow.core.schedule import add_interval
from memberflow.pipelines.cancel_moment.alternatives import FEEDBACK_FOR_STRIPE
from memberflow.pipelines.cancel_moment.records import member, subscription, visit
from memberflow.pipelines.cancel_moment.tickets import plan_contact

CarryOut = Callable[[DecisionRequest], str]  # a gateway's carry_out_decision


@dataclass
class Carried:
    done: list[dict] = field(default_factory=list)  # carried out now: what the provider said
    failed: list[dict] = field(default_factory=list)  # refused now: tried again next run
    for_ops: list[dict] = field(default_factory=list)  # a person must act: what to do
    overdue: list[dict] = field(default_factory=list)  # not carried out in the time allowed


def carry_out(
    engine: Engine, carry: CarryOut, *, now: datetime, within: timedelta, limit: int = 500
) -> Carried:
    carried = Carried()
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                visit.c.id,
                visit.c.decision,
                visit.c.decided_at,
                visit.c.reason,
                visit.c.comment,
                visit.c.offered,
                visit.c.attempts,
                visit.c.subscription_id,
                subscription.c.external_id.label("subscription"),
                subscription.c.current_period_end,
                subscription.c.status,
                subscription.c.cancel_at_period_end,
                subscription.c.pause_resumes_at,
                member.c.external_id.label("member"),
            )
            .join(subscription, subscription.c.id == visit.c.subscription_id)
            .join(member, member.c.id == visit.c.member_id)
            .where(visit.c.decision.is_not(None), visit.c.carried_out_at.is_(None))
            .order_by(visit.c.decided_at)
            .limit(limit)
        ).all()
    for row in rows:
        said = {"decision": row.decision, "member": row.member, "subscription": row.subscription}
        if row.decision == "human":  # a ticket to the business's people, sent by the flow
            context = {"reason": row.reason, "comment": row.comment}
            context["decided_at"] = row.decided_at.isoformat()
            with engine.begin() as conn:
                plan_contact(
                    conn,
                    subscription_id=row.subscription_id,
                    decided_at=row.decided_at,
                    now=now,
                    context=context,
                )
            _mark(engine, row.id, now, carried_out=True, note="a ticket to ops: contact them")
            carried.done.append(said | {"provider": "a ticket to ops"})
            continue
        seen = _already_at_the_provider(row)
        if seen:  # ops did it by hand (MemberPress, MemberMouse), and its webhook told us
            _mark(engine, row.id, now, carried_out=True, note=seen)
            carried.done.append(said | {"provider": seen})
            continue
        try:
            note = carry(_request(row))
        except NotImplementedError:
            what = _by_hand(row)
            _mark(engine, row.id, now, carried_out=False, error=f"for ops: {what}")
            carried.for_ops.append(said | {"to do": what})
        except Exception as error:  # noqa: BLE001 - recorded on the decision; tried again
            _mark(engine, row.id, now, carried_out=False, error=str(error)[:500])
            carried.failed.append(said | {"error": str(error)[:200]})
        else:
            _mark(engine, row.id, now, carried_out=True, note=note)
            carried.done.append(said | {"provider": note})
            continue
        if row.decided_at < now - within:
            carried.overdue.append(said | {"decided at": row.decided_at.isoformat()})
    return carried


def _request(row) -> DecisionRequest:
    offered = json.loads(row.offered) if row.offered else {}
    resumes_at = None
    if row.decision == "pause":  # from the end of the period paid for
        resumes_at = row.current_period_end
        for _ in range(offered.get("months", 1)):
            resumes_at = add_interval(resumes_at, "month", row.current_period_end.day)
    return DecisionRequest(
        idempotency_key=f"memberflow-cancel-page-{row.id}",
        decision=row.decision,
        subscription_external_id=row.subscription,
        member_external_id=row.member,
        feedback=FEEDBACK_FOR_STRIPE.get(row.reason) if row.reason else None,
        comment=row.comment,
        resumes_at=resumes_at,
        price=offered.get("price"),
        code=offered.get("code"),
    )


def _already_at_the_provider(row) -> str | None:
    """What the provider already says of a decision (a cancellation or a pause it has told us
    of), so that a decision carried out by hand is not asked for again, nor reported late."""
    if row.decision == "cancel" and (row.status == "canceled" or row.cancel_at_period_end):
        return "already canceled at the provider"
    if row.decision == "pause" and (row.status == "paused" or row.pause_resumes_at):
        return "already paused at the provider"
    return None


def _by_hand(row) -> str:
    offered = json.loads(row.offered) if row.offered else {}
    return {
        "cancel": f"cancel subscription {row.subscription} at the end of its period",
        "pause": f"pause subscription {row.subscription} for {offered.get('months', 1)} month(s)",
        "switch": f"switch subscription {row.subscription} to {offered.get('price')} from its "
        "next period, without proration",
        "discount": f"apply {offered.get('code')} to subscription {row.subscription}",
    }.get(row.decision, f"{row.decision} subscription {row.subscription}") + " at the provider"


def _mark(
    engine: Engine,
    visit_id: int,
    now: datetime,
    *,
    carried_out: bool,
    note: str | None = None,
    error: str | None = None,
) -> None:
    values = {"attempts": visit.c.attempts + 1, "last_error": error}
    if carried_out:
        values |= {"carried_out_at": now, "provider_note": note}
    with engine.begin() as conn:
        conn.execute(update(visit).where(visit.c.id == visit_id).values(**values))
