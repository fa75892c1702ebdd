"""Dunning cases in the database: open one per failed invoice, advance each one a step.

Advancing a case is: close it if the invoice got paid; else retry the charge if the policy says
so; then plan the member's notice, a person's attention, or the final action. Messages are
planned as touchpoints (the engine's outbox) and sent by the engine, which re-checks the invoice
at send time. Each case is advanced in its own transactions, so a crash loses at most the case
in hand, and a charge is recorded before the gateway is called, so a replay reuses its
idempotency key and never charges twice.
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, select, update

from memberflow.core.models import (
    AttemptStatus,
    CaseOutcome,
    CaseStatus,
    ChargeAttempt,
    DunningCase,
    Invoice,
    InvoiceStatus,
    TouchpointStatus,
)
from memberflow.core.schedule import local_date, zone
from memberflow.messaging import store
from memberflow.messaging.engine import touchpoint_key
from memberflow.pipelines.dunning import policy as rules
from memberflow.pipelines.dunning.charges import ChargeRequest, ChargeResult, ChargeStatus, Gateway
from memberflow.pipelines.dunning.policy import CaseFacts, Category, DunningPolicy, FinalAction

MEMBER_PIPELINE = "dunning"  # emails to the member
OPS_PIPELINE = "dunning-ops"  # tickets and alerts for the business's people
INVOLUNTARY = "payment_failed"  # the cancel reason of a subscription dunning ended
SUBSCRIPTION_STATUS = {
    FinalAction.cancel: "canceled",
    FinalAction.pause: "paused",
    FinalAction.unpaid: "unpaid",
}
OUTCOME = {
    FinalAction.cancel: CaseOutcome.canceled,
    FinalAction.pause: CaseOutcome.paused,
    FinalAction.unpaid: CaseOutcome.unpaid,
}

case, attempt, invoice = DunningCase.__table__, ChargeAttempt.__table__, Invoice.__table__
subscription, member, product, touchpoint = (
    store.subscription,
    store.member,
    store.product,
    store.touchpoint,
)


def is_involuntary(cancel_reason: str | None) -> bool:
    """A cancellation that dunning made: the follow-up owes no "sorry to see you go"."""
    return cancel_reason == INVOLUNTARY


# -- opening ---------------------------------------------------------------------------------


def open_cases(
    engine: Engine,
    *,
    as_of: datetime,
    policy: DunningPolicy,
    invoice_ids: list[int] | None = None,
) -> int:
    """Opens a case for every failed, still open invoice that has none; returns how many.

    A failure older than the whole schedule is left alone: its final action would be the
    first thing a new case did. Any number of duplicate events opens one case (unique index).
    """
    oldest = as_of - timedelta(days=policy.final_action_day)
    query = (
        select(
            invoice.c.id,
            invoice.c.subscription_id,
            invoice.c.decline_code,
            invoice.c.advice_code,
            invoice.c.provider_updated_at,
            subscription.c.card_last4,
            subscription.c.card_exp_month,
            subscription.c.card_exp_year,
            member.c.external_id.label("member_external_id"),
        )
        .join(subscription, subscription.c.id == invoice.c.subscription_id)
        .join(member, member.c.id == subscription.c.member_id)
        .outerjoin(case, case.c.invoice_id == invoice.c.id)
        .where(
            case.c.id.is_(None),
            invoice.c.status == InvoiceStatus.open,
            (invoice.c.attempt_count > 0) | invoice.c.decline_code.is_not(None),
            subscription.c.status.not_in(["canceled"]),
            invoice.c.provider_updated_at.is_(None)
            | invoice.c.provider_updated_at.between(oldest, as_of),
        )
    )
    if invoice_ids is not None:
        query = query.where(invoice.c.id.in_(invoice_ids))
    with engine.begin() as conn:
        new = [_new_case(row, as_of) for row in conn.execute(query)]
        return len(store.insert_new(conn, case, new, unique="invoice_id"))


def _new_case(row: Row, as_of: datetime) -> dict:
    return {
        "invoice_id": row.id,
        "subscription_id": row.subscription_id,
        "status": CaseStatus.open,
        "category": rules.categorize(row.decline_code, row.advice_code),
        "decline_code": row.decline_code,
        "advice_code": row.advice_code,
        "opened_at": row.provider_updated_at or as_of,  # an import may not say when it failed
        "card": rules.card_identity(
            row.member_external_id, row.card_last4, row.card_exp_month, row.card_exp_year
        ),
        "retries": 0,
        "notices": "",
        "recovered_minor": 0,
    }


# -- advancing -------------------------------------------------------------------------------


@dataclass
class Channels:
    """The channels of the two outputs, part of every message's idempotency key."""

    member: str = "email"
    ops: str = "email"


@dataclass
class Advance:
    """What a batch of cases did; added up over a run for its artifact."""

    counts: Counter = field(default_factory=Counter)
    recovered: Counter = field(default_factory=Counter)  # minor units per currency

    def add(self, other: "Advance") -> "Advance":
        self.counts.update(other.counts)
        self.recovered.update(other.recovered)
        return self


def _case_rows():
    return (
        select(
            case,
            invoice.c.external_id.label("invoice_external_id"),
            invoice.c.status.label("invoice_status"),
            invoice.c.amount_minor,
            invoice.c.currency,
            subscription.c.external_id.label("sub_external_id"),
            subscription.c.member_id,
            subscription.c.status.label("sub_status"),
            subscription.c.amount_minor.label("plan_minor"),
            subscription.c.card_last4,
            subscription.c.card_exp_month,
            subscription.c.card_exp_year,
            member.c.external_id.label("member_external_id"),
            member.c.time_zone,
            product.c.external_id.label("product_external_id"),
        )
        .join(invoice, invoice.c.id == case.c.invoice_id)
        .join(subscription, subscription.c.id == case.c.subscription_id)
        .join(member, member.c.id == subscription.c.member_id)
        .join(product, product.c.id == subscription.c.product_id)
    )


def count_open(engine: Engine, invoice_ids: list[int] | None = None) -> int:
    query = select(func.count()).where(case.c.status.in_([CaseStatus.open, CaseStatus.paused]))
    if invoice_ids is not None:
        query = query.where(case.c.invoice_id.in_(invoice_ids))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def open_invoice_ids(engine: Engine, *, subscription_id: int = 0, member_id: int = 0) -> list[int]:
    """The invoices with an open case of a subscription, or of all a member's subscriptions
    (a new card is the member's: every case it can settle is retried at once)."""
    query = select(case.c.invoice_id).where(case.c.status.in_([CaseStatus.open, CaseStatus.paused]))
    if subscription_id:
        query = query.where(case.c.subscription_id == subscription_id)
    else:
        mine = select(subscription.c.id).where(subscription.c.member_id == member_id)
        query = query.where(case.c.subscription_id.in_(mine))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def advance_batch(
    engine: Engine,
    *,
    policy: DunningPolicy,
    gateway: Gateway,
    as_of: datetime,
    after_id: int,
    limit: int,
    channels: Channels,
    invoice_ids: list[int] | None = None,
) -> tuple[int | None, Advance]:
    """Advances up to `limit` open cases after `after_id`; returns the next cursor and counts."""
    query = _case_rows().where(
        case.c.status.in_([CaseStatus.open, CaseStatus.paused]), case.c.id > after_id
    )
    if invoice_ids is not None:
        query = query.where(case.c.invoice_id.in_(invoice_ids))
    with engine.connect() as conn:
        rows = list(conn.execute(query.order_by(case.c.id).limit(limit)))
        cards = _card_attempts(conn, [row.card for row in rows], as_of)
        values = _values(conn, rows, policy)
    done = Advance()
    step = _Stepper(engine, policy, gateway, as_of, channels)
    for row in rows:
        done.add(step.advance(row, cards, values.get(row.id, 0)))
    return (rows[-1].id if len(rows) == limit else None), done


def _card_attempts(conn: Connection, cards: list[str | None], as_of: datetime) -> Counter:
    """Charges per card in the 30 days before `as_of`, across all cases."""
    wanted = sorted({card for card in cards if card})
    if not wanted:
        return Counter()
    query = (
        select(attempt.c.card, func.count())
        .where(
            attempt.c.card.in_(wanted),
            attempt.c.attempted_at > as_of - timedelta(days=30),
            attempt.c.status != AttemptStatus.error,
        )
        .group_by(attempt.c.card)
    )
    return Counter(dict(conn.execute(query).all()))


def _values(conn: Connection, rows: list[Row], policy: DunningPolicy) -> dict[int, int]:
    """Each case's member value as the policy measures it, when escalation by value is on."""
    if policy.escalate_value_minor is None:
        return {}
    if policy.escalate_value == "plan_price":
        return {row.id: row.plan_minor for row in rows}
    members = sorted({row.member_id for row in rows})
    paid = (
        select(subscription.c.member_id, invoice.c.currency, func.sum(invoice.c.amount_minor))
        .join(subscription, subscription.c.id == invoice.c.subscription_id)
        .where(subscription.c.member_id.in_(members), invoice.c.status == InvoiceStatus.paid)
        .group_by(subscription.c.member_id, invoice.c.currency)
    )
    lifetime = {(m, currency): total for m, currency, total in conn.execute(paid)}
    return {row.id: lifetime.get((row.member_id, row.currency), 0) for row in rows}


def facts_of(row: Any, card_attempts: int, value_minor: int) -> CaseFacts:
    current = rules.card_identity(
        row.member_external_id, row.card_last4, row.card_exp_month, row.card_exp_year
    )
    return CaseFacts(
        opened_at=row.opened_at,
        time_zone=zone(row.time_zone),
        category=Category(row.category),
        status=CaseStatus(row.status),
        retries=row.retries,
        last_retry_at=row.last_retry_at,
        card_changed=current is not None and current != row.card,
        card_attempts_30d=card_attempts,
        notices=frozenset(filter(None, row.notices.split(","))),
        escalated=row.escalated_at is not None,
        value_minor=value_minor,
    )


class _Stepper:
    """Advances one case at a time; holds what every case of a run shares."""

    def __init__(self, engine, policy, gateway, as_of, channels):
        self.engine, self.policy, self.gateway = engine, policy, gateway
        self.as_of, self.channels = as_of, channels

    def advance(self, row: Row, cards: Counter, value_minor: int) -> Advance:
        done = Advance()
        done.counts["advanced"] += 1
        if row.invoice_status != InvoiceStatus.open:
            outcome = (
                CaseOutcome.paid_elsewhere
                if row.invoice_status == InvoiceStatus.paid
                else CaseOutcome.written_off
            )
            paid = outcome == CaseOutcome.paid_elsewhere
            with self.engine.begin() as conn:
                self._close(conn, row, outcome, recovered_by="outside memberflow" if paid else None)
            done.counts[outcome.value] += 1
            return done
        if row.status == CaseStatus.paused:
            done.counts["waiting_for_ops"] += 1
            return done
        facts = facts_of(row, cards[row.card], value_minor)
        slot = rules.retry_due(facts, self.policy, self.as_of)
        if slot is not None:
            reason = rules.retry_reason(facts, self.policy, slot)
            result, row = self._retry(row, reason)
            done.counts["retries"] += 1
            if result.paid:
                outcome = (
                    CaseOutcome.recovered
                    if result.status == ChargeStatus.succeeded
                    else CaseOutcome.paid_elsewhere
                )
                done.counts[outcome.value] += 1
                if outcome == CaseOutcome.recovered:
                    done.recovered[row.currency] += row.amount_minor
                return done
            if result.status == ChargeStatus.gateway_error:
                done.counts["gateway_paused"] += 1
                return done
            if result.status == ChargeStatus.unavailable:
                done.counts["unavailable"] += 1
            else:
                cards[row.card] += 1  # a decline counts against the card's 30-day cap
            facts = facts_of(row, cards[row.card], value_minor)
        self._follow_up(row, facts, done)
        return done

    # -- retrying --------------------------------------------------------------------------

    def _retry(self, row: Row, reason: str) -> tuple[ChargeResult, Any]:
        number = row.retries + 1
        card_now = rules.card_identity(
            row.member_external_id, row.card_last4, row.card_exp_month, row.card_exp_year
        )
        with self.engine.begin() as conn:  # recorded before the call: a replay reuses the key
            key = _charge_key(conn, row, number)
            store.insert_new(
                conn,
                attempt,
                [
                    {
                        "key": key,
                        "case_id": row.id,
                        "number": number,
                        "reason": reason,
                        "card": card_now,
                        "attempted_at": self.as_of,
                        "status": AttemptStatus.pending,
                    }
                ],
                unique="key",
            )
        result = self._charge(row, key)
        with self.engine.begin() as conn:
            conn.execute(
                update(attempt)
                .where(attempt.c.key == key)
                .values(
                    status=_attempt_status(result),
                    decline_code=result.decline_code,
                    message=result.message,
                    attempted_at=self.as_of,
                )
            )
            row = self._record_result(conn, row, result, reason, number, card_now)
        return result, row

    def _charge(self, row: Row, key: str) -> ChargeResult:
        request = ChargeRequest(
            idempotency_key=key,
            invoice_external_id=row.invoice_external_id,
            subscription_external_id=row.sub_external_id,
            member_external_id=row.member_external_id,
            amount_minor=row.amount_minor,
            currency=row.currency,
            card_last4=row.card_last4,
            failed_at=row.opened_at,
            attempted_at=self.as_of,
        )
        try:
            return self.gateway.retry_charge(request)
        except Exception as error:  # a gateway's bug is an ops problem, never the member's
            message = f"{type(error).__name__} in {type(self.gateway).__name__}: {error}"
            return ChargeResult(ChargeStatus.gateway_error, message=message[:500])

    def _record_result(self, conn, row, result: ChargeResult, reason, number, card_now):
        if result.paid:
            conn.execute(
                update(invoice)
                .where(invoice.c.id == row.invoice_id)
                .values(status=InvoiceStatus.paid, paid_at=self.as_of)
            )
            conn.execute(
                update(subscription)
                .where(subscription.c.id == row.subscription_id)
                .where(subscription.c.status.in_(["past_due", "unpaid"]))
                .values(status="active")
            )
            recovered = result.status == ChargeStatus.succeeded
            outcome = CaseOutcome.recovered if recovered else CaseOutcome.paid_elsewhere
            by = f"retry {number} ({reason})" if recovered else "outside memberflow"
            self._close(conn, row, outcome, recovered_by=by, recovered=recovered)
            return row
        if result.status == ChargeStatus.unavailable:
            return row
        if result.status == ChargeStatus.gateway_error:
            self._pause(conn, row, result.message or "the gateway failed")
            return row
        values = {
            "retries": number,
            "last_retry_at": self.as_of,
            "card": card_now,
            "category": rules.categorize(result.decline_code, result.advice_code),
            "decline_code": result.decline_code or row.decline_code,
            "advice_code": result.advice_code,
        }
        conn.execute(update(case).where(case.c.id == row.id).values(**values))
        return _replace(row, **values)

    def _pause(self, conn: Connection, row: Row, reason: str) -> None:
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(status=CaseStatus.paused, paused_reason=reason[:1000])
        )
        self._plan(
            conn,
            row,
            OPS_PIPELINE,
            "gateway_alert",
            entity=f"{row.invoice_external_id}#{row.retries + 1}",
            due_at=self.as_of,
            context={"reason": reason, "gateway": self.gateway.name},
        )

    # -- after any retry: notices, escalation, the final action ----------------------------

    def _follow_up(self, row: Row, facts: CaseFacts, done: Advance) -> None:
        """Plans what is due now; most hourly runs find nothing and write nothing."""
        policy, as_of = self.policy, self.as_of
        final = rules.final_action_due(facts, policy, as_of)
        notice = None if final else rules.notice_due(facts, policy, as_of)
        escalate = not final and rules.should_escalate(facts, policy)
        next_retry = None if final else rules.next_retry(facts, policy, as_of)
        if not (final or notice or escalate) and next_retry == row.next_retry_at:
            return
        with self.engine.begin() as conn:
            if final:
                action = self._final_action(conn, row)
                done.counts[f"final_{action.value}"] += 1
                return
            values: dict[str, Any] = {"next_retry_at": next_retry}
            if notice is not None:
                context = self._context(facts, row)
                self._plan(
                    conn, row, MEMBER_PIPELINE, notice.step, due_at=notice.due_at, context=context
                )
                values["notices"] = ",".join(sorted(facts.notices | {notice.step}))
                done.counts["notices"] += 1
            if escalate:
                context = self._context(facts, row) | {"history": _history(conn, row)}
                self._plan(conn, row, OPS_PIPELINE, "escalation", due_at=as_of, context=context)
                values["escalated_at"] = as_of
                done.counts["escalations"] += 1
            conn.execute(update(case).where(case.c.id == row.id).values(**values))

    def _context(self, facts: CaseFacts, row: Row) -> dict:
        """What a message says happens next, fixed when it is planned."""
        ending = self.policy.ending_for(row.product_external_id)
        next_retry = rules.next_retry(facts, self.policy, self.as_of)
        return {
            "category": facts.category.value,
            "decline_code": row.decline_code,
            "retries": facts.retries,
            "next_retry_at": _iso(next_retry),
            "final_action": ending.final_action.value,
            "final_action_at": _iso(rules.final_action_at(facts, self.policy)),
            "unpaid_access_days": ending.unpaid_access_days,
        }

    def _final_action(self, conn: Connection, row: Row) -> FinalAction:
        ending = self.policy.ending_for(row.product_external_id)
        action = ending.final_action
        access_until = None
        values: dict[str, Any] = {"status": SUBSCRIPTION_STATUS[action]}
        if action == FinalAction.cancel:
            values |= {"canceled_at": self.as_of, "cancel_reason": INVOLUNTARY}
        if action == FinalAction.unpaid:
            access_until = self.as_of + timedelta(days=ending.unpaid_access_days)
        conn.execute(
            update(subscription).where(subscription.c.id == row.subscription_id).values(**values)
        )
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(final_action=action, access_until=access_until, next_retry_at=None)
        )
        self._close(conn, row, OUTCOME[action])
        context = {"final_action": action.value, "access_until": _iso(access_until)}
        self._plan(conn, row, MEMBER_PIPELINE, "final_notice", due_at=self.as_of, context=context)
        return action

    # -- writing ---------------------------------------------------------------------------

    def _close(
        self,
        conn: Connection,
        row: Row,
        outcome: CaseOutcome,
        *,
        recovered_by: str | None = None,
        recovered: bool = False,
    ) -> None:
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(
                status=CaseStatus.closed,
                outcome=outcome,
                closed_at=self.as_of,
                recovered_by=recovered_by,
                recovered_minor=row.amount_minor if recovered else 0,
                next_retry_at=None,
            )
        )
        # what was planned and not sent yet no longer applies (the send-time check agrees)
        conn.execute(
            update(touchpoint)
            .where(
                touchpoint.c.invoice_id == row.invoice_id,
                touchpoint.c.pipeline == MEMBER_PIPELINE,
                touchpoint.c.status.in_([TouchpointStatus.pending, TouchpointStatus.failed]),
            )
            .values(status=TouchpointStatus.skipped, error=f"case closed: {outcome.value}")
        )

    def _plan(
        self,
        conn: Connection,
        row: Row,
        pipeline: str,
        step: str,
        *,
        due_at: datetime,
        context: dict,
        entity: str | None = None,
    ) -> None:
        channel = self.channels.member if pipeline == MEMBER_PIPELINE else self.channels.ops
        anchor_day = local_date(row.opened_at, zone(row.time_zone))
        key = touchpoint_key(pipeline, step, entity or row.invoice_external_id, anchor_day, channel)
        plan = {
            "key": key,
            "pipeline": pipeline,
            "step": step,
            "channel": channel,
            "subscription_id": row.subscription_id,
            "invoice_id": row.invoice_id,
            "anchor_at": row.opened_at,
            "due_at": due_at,
            "status": TouchpointStatus.pending,
            "attempts": 0,
            "created_at": datetime.now(UTC),
            "context": json.dumps(context),
        }
        store.insert_touchpoints(conn, [plan])


def _charge_key(conn: Connection, row: Any, number: int) -> str:
    """The idempotency key of retry `number`: the one a crash left pending, else a new one.

    A retry the gateway answered with an error gets a new key next time, because Stripe replays
    a saved error (even a 500) for the same key; the invoice itself can only be paid once.
    """
    tries = conn.execute(
        select(attempt.c.key, attempt.c.status)
        .where(attempt.c.case_id == row.id, attempt.c.number == number)
        .order_by(attempt.c.id)
    ).all()
    if tries and tries[-1].status == AttemptStatus.pending:
        return tries[-1].key
    base = f"dunning:{row.invoice_external_id}:charge:{number}"
    return f"{base}.{len(tries)}" if tries else base


def _history(conn: Connection, row: Any) -> list[dict]:
    """The case so far, for a person picking it up: the failure, each retry, each email."""
    events = [{"at": _iso(row.opened_at), "what": f"payment failed: {row.decline_code}"}]
    attempts = conn.execute(
        select(attempt).where(attempt.c.case_id == row.id).order_by(attempt.c.number)
    )
    events += [
        {
            "at": _iso(a.attempted_at),
            "what": f"retry {a.number} ({a.reason}): {a.status} {a.decline_code or ''}".strip(),
        }
        for a in attempts
    ]
    notices = conn.execute(
        select(touchpoint.c.step, touchpoint.c.due_at, touchpoint.c.status)
        .where(touchpoint.c.invoice_id == row.invoice_id, touchpoint.c.pipeline == MEMBER_PIPELINE)
        .order_by(touchpoint.c.due_at)
    )
    events += [{"at": _iso(n.due_at), "what": f"email {n.step}: {n.status}"} for n in notices]
    return sorted(events, key=lambda event: event["at"])


def _attempt_status(result: ChargeResult) -> AttemptStatus:
    if result.paid:
        return AttemptStatus.succeeded
    if result.status == ChargeStatus.declined:
        return AttemptStatus.declined
    return AttemptStatus.error


def _replace(row: Row, **values) -> SimpleNamespace:
    return SimpleNamespace(**{**row._mapping, **values})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# -- reading and ops actions -------------------------------------------------------------------


def resume(engine: Engine, invoice_external_ids: list[str] | None = None) -> int:
    """Reopens paused cases (all, or these invoices') once ops fixed the gateway."""
    query = update(case).where(case.c.status == CaseStatus.paused)
    if invoice_external_ids is not None:
        chosen = select(invoice.c.id).where(invoice.c.external_id.in_(invoice_external_ids))
        query = query.where(case.c.invoice_id.in_(chosen))
    with engine.begin() as conn:
        return conn.execute(query.values(status=CaseStatus.open, paused_reason=None)).rowcount


def list_cases(engine: Engine, statuses: list[str] = ()) -> list[dict]:
    query = (
        select(
            invoice.c.external_id.label("invoice"),
            member.c.email,
            case.c.status,
            case.c.category,
            case.c.decline_code,
            case.c.opened_at,
            case.c.retries,
            case.c.next_retry_at,
            case.c.notices,
            case.c.escalated_at,
            case.c.outcome,
            case.c.recovered_by,
            case.c.paused_reason,
        )
        .join(invoice, invoice.c.id == case.c.invoice_id)
        .join(subscription, subscription.c.id == case.c.subscription_id)
        .join(member, member.c.id == subscription.c.member_id)
        .order_by(case.c.id)
    )
    if statuses:
        query = query.where(case.c.status.in_(statuses))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def closed_unannounced(engine: Engine, limit: int = 500) -> list[dict]:
    """Closed cases whose Prefect event is still owed (sent after the close is committed)."""
    query = (
        _case_rows()
        .where(case.c.status == CaseStatus.closed, case.c.event_emitted_at.is_(None))
        .order_by(case.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


_EVENT_NAMESPACE = uuid.UUID("0b6f3c1e-5d0a-4b57-8f0e-64756e6e696e")


def case_event(row: dict) -> dict:
    """The Prefect event a closed case announces (`emit_event` keywords): one id per case, so
    announcing twice still fires an automation once."""
    subscription_ref = f"memberflow.subscription.{row['sub_external_id']}"
    return {
        "id": uuid.uuid5(_EVENT_NAMESPACE, f"case:{row['id']}"),
        "event": f"memberflow.pipelines.dunning.{row['outcome']}",
        "resource": {"prefect.resource.id": subscription_ref},
        "related": [
            {
                "prefect.resource.id": f"memberflow.invoice.{row['invoice_external_id']}",
                "prefect.resource.role": "invoice",
            },
            {
                "prefect.resource.id": f"memberflow.member.{row['member_external_id']}",
                "prefect.resource.role": "member",
            },
        ],
        "payload": {
            "case_id": row["id"],
            "invoice_id": row["invoice_id"],
            "subscription_id": row["subscription_id"],
            "outcome": row["outcome"],
            "final_action": row["final_action"],
            "involuntary_churn": row["final_action"] == FinalAction.cancel,
            "recovered_minor": row["recovered_minor"],
            "currency": row["currency"],
            "recovered_by": row["recovered_by"],
        },
    }


def mark_announced(engine: Engine, case_ids: list[int], at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(case)
            .where(and_(case.c.id.in_(case_ids), case.c.event_emitted_at.is_(None)))
            .values(event_emitted_at=at)
        )
