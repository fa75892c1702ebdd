"""Advancing dunning cases, one step each run.

Advancing a case is: close it if the invoice got paid; else retry the charge if the policy says
so; then plan the member's notice, a person's attention, or the final action. Messages are
planned as touchpoints (the engine's outbox) and sent by the engine, which re-checks the invoice
at send time. Each case is advanced in its own transactions, so a crash loses at most the case
in hand, and a charge is recorded before the gateway is called, so a replay reuses its
idempotency key and never charges twice. The decisions themselves are `policy`'s pure functions.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, update

from memberflow.core.charges import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Gateway,
    retry_charge,
)
from memberflow.core.db import Prepared, UTCDateTime, insert_one
from memberflow.core.dunning_models import AttemptStatus, CaseOutcome, CaseStatus
from memberflow.core.models import InvoiceStatus
from memberflow.core.schedule import zone
from memberflow.pipelines.dunning import policy as rules
from memberflow.pipelines.dunning import queries
from memberflow.pipelines.dunning.endings import Endings
from memberflow.pipelines.dunning.policy import CaseFacts, Category, DunningPolicy
from memberflow.pipelines.dunning.queries import attempt, case, invoice, subscription
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE, OPS_PIPELINE
from memberflow.pipelines.dunning.writes import CaseWrites, Channels

# a case as read for the batch, or as this run has changed it since (`_replace`)
CaseRow = Row | SimpleNamespace


@dataclass
class Advance:
    """What a batch of cases did; added up over a run for its artifact."""

    counts: Counter = field(default_factory=Counter)
    recovered: Counter = field(default_factory=Counter)  # minor units per currency

    def add(self, other: "Advance") -> "Advance":
        self.counts.update(other.counts)
        self.recovered.update(other.recovered)
        return self


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
    query = queries.case_rows().where(
        case.c.status.in_([CaseStatus.open, CaseStatus.paused]), case.c.id > after_id
    )
    if invoice_ids is not None:
        query = query.where(case.c.invoice_id.in_(invoice_ids))
    done = Advance()
    # one connection for the batch; each case still commits its own short transactions
    with engine.connect() as conn:
        rows = list(conn.execute(query.order_by(case.c.id).limit(limit)))
        cards = queries.card_attempts(conn, [row.card for row in rows], as_of)
        values = queries.member_values(conn, rows, policy)
        tries = queries.attempts_by_case(conn, [row.id for row in rows])
        conn.commit()
        step = _Stepper(conn, policy, gateway, as_of, channels, tries)
        for row in rows:
            done.add(step.advance(row, cards, values.get(row.id, 0)))
    return (rows[-1].id if len(rows) == limit else None), done


def facts_of(row: CaseRow, card_attempts: int, value_minor: int) -> CaseFacts:
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
    """Advances one case at a time; holds what every case of a run shares: its writes, and how
    a case ends or waits (`Endings`)."""

    def __init__(
        self,
        conn: Connection,
        policy: DunningPolicy,
        gateway: Gateway,
        as_of: datetime,
        channels: Channels,
        tries: dict[tuple[int, int], list[Row]],
    ):
        self.conn, self.policy, self.gateway, self.as_of = conn, policy, gateway, as_of
        self.tries = tries  # (case id, retry number) -> its attempts so far, oldest first
        self.writes = CaseWrites(as_of, channels)
        self.endings = Endings(policy, gateway, as_of, self.writes, self.transaction)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One of a case's short transactions, committed when the block ends."""
        with self.conn.begin():
            yield self.conn

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
            with self.transaction() as conn:
                self.writes.close(
                    conn, row, outcome, recovered_by="outside memberflow" if paid else None
                )
            done.counts[outcome.value] += 1
            return done
        if row.status == CaseStatus.paused:
            if row.next_probe_at is None or self.as_of < row.next_probe_at:
                done.counts["waiting_for_ops"] += 1
                return done
            # try the gateway again by itself: the retry it failed is the probe
            result, row = self._retry(row, "probe")
            done.counts["gateway_probes"] += 1
            if result.status == ChargeStatus.gateway_error:
                return done
            with self.transaction() as conn:
                self.endings.resume(conn, row)
            done.counts["gateway_back"] += 1
            if result.paid:
                done.counts[_paid(result).value] += 1
                return done
            row = _replace(row, status=CaseStatus.open)
        facts = facts_of(row, cards[row.card], value_minor)
        slot = rules.retry_due(facts, self.policy, self.as_of)
        if slot is None:
            self._follow_up(row, facts, done)
            return done
        deferred: list[CaseFacts] = []  # a final action waits for the answer's commit

        def follow_up(conn: Connection, row: CaseRow, result: ChargeResult) -> None:
            """After a decline, in the transaction that records it: one commit, not two."""
            if result.status == ChargeStatus.unavailable:
                done.counts["unavailable"] += 1
            else:
                cards[row.card] += 1  # a decline counts against the card's 30-day cap
            facts = facts_of(row, cards[row.card], value_minor)
            if not self._follow_up(row, facts, done, conn=conn):
                deferred.append(facts)

        result, row = self._retry(row, rules.retry_reason(facts, self.policy, slot), follow_up)
        done.counts["retries"] += 1
        if result.paid:
            outcome = _paid(result)
            done.counts[outcome.value] += 1
            if outcome == CaseOutcome.recovered:
                done.recovered[row.currency] += row.amount_minor
        elif result.status == ChargeStatus.gateway_error:
            done.counts["gateway_paused"] += 1
        elif deferred:
            self._follow_up(row, deferred[0], done)
        return done

    # -- retrying --------------------------------------------------------------------------

    def _retry(
        self, row: Row, reason: str, then: Callable | None = None
    ) -> tuple[ChargeResult, Any]:
        """Charges again, exactly once; `then(conn, row, result)` runs in the transaction that
        records a decline (the follow-up's writes)."""
        number = row.retries + 1
        card_now = rules.card_identity(
            row.member_external_id, row.card_last4, row.card_exp_month, row.card_exp_year
        )
        with self.transaction() as conn:  # recorded before the call: a replay reuses the key
            key = queries.charge_key(self.tries.get((row.id, number), []), row, number)
            insert_one(
                conn,
                attempt,
                {
                    "key": key,
                    "case_id": row.id,
                    "number": number,
                    "reason": reason,
                    "card": card_now,
                    "attempted_at": self.as_of,
                    "status": AttemptStatus.pending,
                },
                unique="key",
            )
        result = self._charge(row, key)
        with self.transaction() as conn:
            answer = {
                "attempt_key": key,
                "status": _attempt_status(result),
                "decline_code": result.decline_code,
                "message": result.message,
                "attempted_at": self.as_of,
            }
            _ANSWER(conn, answer)
            row = self._record_result(conn, row, result, reason, number, card_now)
            declined = result.status in (ChargeStatus.declined, ChargeStatus.unavailable)
            if then is not None and declined and not result.paid:
                then(conn, row, result)
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
        return retry_charge(self.gateway, request)

    def _record_result(
        self,
        conn: Connection,
        row: CaseRow,
        result: ChargeResult,
        reason: str,
        number: int,
        card_now: str | None,
    ) -> CaseRow:
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
            outcome = _paid(result)
            recovered = outcome == CaseOutcome.recovered
            by = f"retry {number} ({reason})" if recovered else "outside memberflow"
            # the charge that paid is a retry too (`memberflow cases` said 1 for a second one)
            retried = {"retries": number, "last_retry_at": self.as_of, "card": card_now}
            self.writes.close(conn, row, outcome, recovered_by=by, recovered=recovered, **retried)
            return _replace(row, **retried)
        if result.status == ChargeStatus.unavailable:
            return row
        if result.status == ChargeStatus.gateway_error:
            self.endings.pause(conn, row, result.message or "the gateway failed")
            return row
        values = {
            "retries": number,
            "last_retry_at": self.as_of,
            "card": card_now,
            "category": rules.categorize(result.decline_code, result.advice_code),
            "decline_code": result.decline_code or row.decline_code,
            "advice_code": result.advice_code,
        }
        _DECLINED(conn, {"case_id": row.id, **values})
        return _replace(row, **values)

    # -- after any retry: notices, escalation, the final action ----------------------------

    def _follow_up(
        self, row: Row, facts: CaseFacts, done: Advance, conn: Connection | None = None
    ) -> bool:
        """Plans what is due now, in `conn`'s transaction if given; most hourly runs find
        nothing and write nothing. False when a final action is due and `conn` was given: it
        calls the gateway, which never happens inside a transaction; call again without."""
        policy, as_of = self.policy, self.as_of
        final = rules.final_action_due(facts, policy, as_of)
        notice = None if final else rules.notice_due(facts, policy, as_of)
        escalate = not final and rules.should_escalate(facts, policy)
        next_retry = None if final else rules.next_retry(facts, policy, as_of)
        if not (final or notice or escalate) and next_retry == row.next_retry_at:
            return True
        if final and conn is not None:
            return False
        if final and not self.endings.applied_at_gateway(row, done):
            return True  # the provider refused: the case is paused and ops told; it waits
        with nullcontext(conn) if conn is not None else self.transaction() as conn:
            if final:
                action = self.endings.final_action(conn, row)
                done.counts[f"final_{action.value}"] += 1
                return True
            values: dict[str, Any] = {
                "case_id": row.id,
                "next_retry_at": next_retry,
                "notices": row.notices,
                "escalated_at": row.escalated_at,
            }
            if notice is not None:
                context = self._context(facts, row)
                self.writes.plan(
                    conn, row, MEMBER_PIPELINE, notice.step, due_at=notice.due_at, context=context
                )
                values["notices"] = ",".join(sorted(facts.notices | {notice.step}))
                done.counts["notices"] += 1
            if escalate:
                context = self._context(facts, row) | {"history": queries.history(conn, row)}
                self.writes.plan(
                    conn, row, OPS_PIPELINE, "escalation", due_at=as_of, context=context
                )
                values["escalated_at"] = as_of
                done.counts["escalations"] += 1
            _FOLLOWED_UP(conn, values)
        return True

    def _context(self, facts: CaseFacts, row: Row) -> dict:
        """What a message says happens next, fixed when it is planned."""
        ending = self.policy.ending_for(row.product_external_id)
        next_retry = rules.next_retry(facts, self.policy, self.as_of)
        return {
            "category": facts.category.value,
            "decline_code": row.decline_code,
            "retries": facts.retries,
            "next_retry_at": queries.iso(next_retry),
            "final_action": ending.final_action.value,
            "final_action_at": queries.iso(rules.final_action_at(facts, self.policy)),
            "unpaid_access_days": ending.unpaid_access_days,
        }


# The statements every retried case runs, built once with every value bound: building and
# keying a statement per case cost more than running it (docs/performance.md, dunning).
_ANSWER = Prepared(
    update(attempt)
    .where(attempt.c.key == bindparam("attempt_key"))
    .values(
        status=bindparam("status"),
        decline_code=bindparam("decline_code"),
        message=bindparam("message"),
        attempted_at=bindparam("attempted_at", type_=UTCDateTime()),
    )
)
_DECLINED = Prepared(
    update(case)
    .where(case.c.id == bindparam("case_id"))
    .values(
        retries=bindparam("retries"),
        last_retry_at=bindparam("last_retry_at", type_=UTCDateTime()),
        card=bindparam("card"),
        category=bindparam("category"),
        decline_code=bindparam("decline_code"),
        advice_code=bindparam("advice_code"),
    )
)
_FOLLOWED_UP = Prepared(
    update(case)
    .where(case.c.id == bindparam("case_id"))
    .values(
        next_retry_at=bindparam("next_retry_at", type_=UTCDateTime()),
        notices=bindparam("notices"),
        escalated_at=bindparam("escalated_at", type_=UTCDateTime()),
    )
)


def _paid(result: ChargeResult) -> CaseOutcome:
    """A paid invoice: recovered by our charge, or paid some other way meanwhile."""
    if result.status == ChargeStatus.succeeded:
        return CaseOutcome.recovered
    return CaseOutcome.paid_elsewhere


def _attempt_status(result: ChargeResult) -> AttemptStatus:
    if result.paid:
        return AttemptStatus.succeeded
    if result.status == ChargeStatus.declined:
        return AttemptStatus.declined
    return AttemptStatus.error


def _replace(row: CaseRow, **values: object) -> SimpleNamespace:
    base = row._mapping if hasattr(row, "_mapping") else vars(row)
    return SimpleNamespace(**{**base, **values})
