"""Dunning's SQL: open cases, read them in batches with what advancing needs, list them for
ops, resume paused ones, and mark the closed ones announced."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, func, select, update

from memberflow.core.db import insert_new
from memberflow.core.dunning_models import AttemptStatus, CaseStatus, ChargeAttempt, DunningCase
from memberflow.core.models import (
    Invoice,
    InvoiceStatus,
    Member,
    Product,
    Subscription,
    Touchpoint,
)
from memberflow.pipelines.dunning import policy as rules
from memberflow.pipelines.dunning.policy import DunningPolicy
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE

# `case` is SQLAlchemy's name too: here it is always the dunning_case table
case, attempt, invoice = DunningCase.__table__, ChargeAttempt.__table__, Invoice.__table__
subscription, member, product = Subscription.__table__, Member.__table__, Product.__table__
touchpoint = Touchpoint.__table__


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
        return len(insert_new(conn, case, new, unique="invoice_id"))


def why_no_case(engine: Engine, *, invoice_id: int, as_of: datetime, policy: DunningPolicy) -> str:
    """Why a failed-payment event opened no case and left nothing to do, in words for the log."""
    with engine.connect() as conn:
        row = conn.execute(
            select(invoice, subscription.c.status.label("subscription_status"))
            .join(subscription, subscription.c.id == invoice.c.subscription_id)
            .where(invoice.c.id == invoice_id)
        ).first()
        has_case = conn.execute(select(case.c.status).where(case.c.invoice_id == invoice_id))
        existing = has_case.scalar_one_or_none()
    if row is None:
        return f"invoice {invoice_id} is not in memberflow's database"
    name = row.external_id
    failed_at = row.provider_updated_at
    if existing is not None:
        return f"invoice {name} already has a case, {existing}"
    if row.status != InvoiceStatus.open:
        return f"invoice {name} is {row.status}, not open: there is nothing to recover"
    if row.subscription_status == "canceled":
        return f"invoice {name}'s subscription is canceled"
    if row.attempt_count == 0 and row.decline_code is None:
        return f"invoice {name} has no failed payment recorded"
    if failed_at is not None and failed_at > as_of:
        return (
            f"invoice {name} failed at {failed_at.isoformat()}, after this run's as_of "
            f"({as_of.isoformat()}): a run at or after that moment opens its case"
        )
    if failed_at is not None and failed_at < as_of - timedelta(days=policy.final_action_day):
        return f"invoice {name} failed more than {policy.final_action_day} days before as_of"
    return f"invoice {name} needs no action at {as_of.isoformat()}"


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


def case_rows():
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
            subscription.c.canceled_at.label("sub_canceled_at"),
            subscription.c.cancel_reason.label("sub_cancel_reason"),
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


def card_attempts(conn: Connection, cards: list[str | None], as_of: datetime) -> Counter:
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


def member_values(conn: Connection, rows: list[Row], policy: DunningPolicy) -> dict[int, int]:
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


def attempts_by_case(conn: Connection, case_ids: list[int]) -> dict[tuple[int, int], list[Row]]:
    """Every charge attempt of these cases, by (case id, retry number), oldest first: read once
    per batch for `charge_key`."""
    found: dict[tuple[int, int], list[Row]] = {}
    if not case_ids:
        return found
    query = (
        select(attempt.c.case_id, attempt.c.number, attempt.c.key, attempt.c.status)
        .where(attempt.c.case_id.in_(case_ids))
        .order_by(attempt.c.id)
    )
    for row in conn.execute(query):
        found.setdefault((row.case_id, row.number), []).append(row)
    return found


def charge_key(tries: list[Any], row: Any, number: int) -> str:
    """The idempotency key of retry `number` given its attempts so far (`attempts_by_case`):
    the one a crash left pending, else a new one.

    A retry the gateway answered with an error gets a new key next time, because Stripe replays
    a saved error (even a 500) for the same key; the invoice itself can only be paid once.
    """
    if tries and tries[-1].status == AttemptStatus.pending:
        return tries[-1].key
    base = f"dunning:{row.invoice_external_id}:charge:{number}"
    return f"{base}.{len(tries)}" if tries else base


def history(conn: Connection, row: Any) -> list[dict]:
    """The case so far, for a person picking it up: the failure, each retry, each email."""
    events = [{"at": iso(row.opened_at), "what": f"payment failed: {row.decline_code}"}]
    attempts = conn.execute(
        select(attempt).where(attempt.c.case_id == row.id).order_by(attempt.c.number)
    )
    events += [
        {
            "at": iso(a.attempted_at),
            "what": f"retry {a.number} ({a.reason}): {a.status} {a.decline_code or ''}".strip(),
        }
        for a in attempts
    ]
    notices = conn.execute(
        select(touchpoint.c.step, touchpoint.c.due_at, touchpoint.c.status)
        .where(touchpoint.c.invoice_id == row.invoice_id, touchpoint.c.pipeline == MEMBER_PIPELINE)
        .order_by(touchpoint.c.due_at)
    )
    events += [{"at": iso(n.due_at), "what": f"email {n.step}: {n.status}"} for n in notices]
    return sorted(events, key=lambda event: event["at"])


def iso(moment: datetime | None) -> str | None:
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
        case_rows()
        .where(case.c.status == CaseStatus.closed, case.c.event_emitted_at.is_(None))
        .order_by(case.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def mark_announced(engine: Engine, case_ids: list[int], at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(case)
            .where(and_(case.c.id.in_(case_ids), case.c.event_emitted_at.is_(None)))
            .values(event_emitted_at=at)
        )
