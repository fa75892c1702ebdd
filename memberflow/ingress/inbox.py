"""The inbox: every accepted webhook is stored, keyed by provider and event id, in the same
transaction that applies it to the domain. A repeat delivery finds its key taken and does
nothing. Prefect events owed by stored webhooks wait here until the emitter hands them over."""

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Engine, bindparam, func, select, update
from sqlmodel import Session

from memberflow.core.db import insert_for
from memberflow.core.models import InboxEvent, InboxStatus
from memberflow.ingress import prefect_event
from memberflow.ingress.apply import Applied, apply_change
from memberflow.ingress.changes import Change

inbox = InboxEvent.__table__

_CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def mask_card_numbers(text: str) -> str:
    """Full card numbers never reach the database or a log, whatever a provider sends."""

    def mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "****" + digits[-4:] if _luhn(digits) else match.group()

    return _CARD_NUMBER.sub(mask, text)


@dataclass(frozen=True)
class Accepted:
    webhook_id: int
    status: str  # an InboxStatus, or "duplicate"
    event: str | None
    note: str | None


@cache
def _insert_new(dialect_name: str):
    statement = insert_for(dialect_name, inbox).on_conflict_do_nothing(index_elements=["key"])
    return statement.returning(inbox.c.id)


def _insert(session: Session, values: dict) -> int | None:
    """The new row's id, or None when the key is already there (a repeat delivery)."""
    return session.execute(_insert_new(session.bind.dialect.name), values).scalar()


def accept(
    engine: Engine, change: Change, body: bytes, received_at: datetime, source: str = "webhook"
) -> Accepted:
    """Stores the webhook and applies it, in one transaction: both or neither. `source`:
    "reconcile" for an event fetched from the provider's list because its webhook was lost."""
    if change.ignored:
        unapplied = (InboxStatus.ignored, change.ignored)
        return _store(engine, change, body, received_at, unapplied, source)
    return _store(engine, change, body, received_at, None, source)


def accept_untranslatable(
    engine: Engine, provider: str, body: bytes, received_at: datetime, error: Exception
) -> Accepted:
    """A webhook that passed authentication but broke the translator (a bug, or a shape no one
    foresaw): kept as failed, keyed by its body, so that `reapply` can retry it after a fix."""
    change = Change(
        provider=provider,
        event_id="body-" + hashlib.sha256(body).hexdigest()[:40],
        event_type="(untranslated)",
        occurred_at=received_at,
        event=None,
    )
    why = f"{type(error).__name__}: {error}"[:1000]
    return _store(engine, change, body, received_at, (InboxStatus.failed, why))


def _store(
    engine: Engine,
    change: Change,
    body: bytes,
    received_at: datetime,
    unapplied: tuple[InboxStatus, str] | None,
    source: str = "webhook",
) -> Accepted:
    """Inserts the inbox row, then applies the change unless `unapplied` gives the row's fate."""
    status, note = unapplied or (InboxStatus.failed, None)  # applying overwrites both
    key = f"{change.provider}:{change.event_id}"
    with Session(engine, autoflush=False, expire_on_commit=False) as session:
        webhook_id = _insert(
            session,
            {
                "key": key,
                "provider": change.provider,
                "event_id": change.event_id[:255],
                "event_type": change.event_type[:128],
                "occurred_at": change.occurred_at,
                "received_at": received_at,
                "source": source,
                "status": status,
                "note": note,
                "body": mask_card_numbers(body.decode("utf-8", "replace")),
                "emit_attempts": 0,
            },
        )
        if webhook_id is None:
            session.rollback()
            return _duplicate(session, key)
        if unapplied:
            accepted = Accepted(webhook_id, status, None, note)
        else:
            accepted = _apply(session, webhook_id, change)
        session.commit()
    return accepted


def _duplicate(session: Session, key: str) -> Accepted:
    row = session.execute(select(inbox.c.id, inbox.c.status).where(inbox.c.key == key)).one()
    return Accepted(row.id, "duplicate", None, f"already received; it was {row.status}")


_OUTCOME_COLUMNS = ("status", "note", "member_id", "subscription_id", "invoice_id", "prefect_event")
_RECORD_OUTCOME = (
    update(inbox)
    .where(inbox.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in _OUTCOME_COLUMNS})
)


def _apply(session: Session, webhook_id: int, change: Change) -> Accepted:
    """Applies inside a savepoint, so a failure keeps the stored webhook and says why."""
    try:
        with session.begin_nested():
            applied = apply_change(session, change)
    except Exception as error:  # noqa: BLE001 - any bug in applying must not lose the webhook
        applied = Applied(InboxStatus.failed, note=f"{type(error).__name__}: {error}"[:1000])
    event = None
    if applied.event and applied.status == InboxStatus.applied:
        event = prefect_event.build(change, applied, webhook_id)
    session.execute(
        _RECORD_OUTCOME,
        {
            "row_id": webhook_id,
            "new_status": applied.status,
            "new_note": applied.note,
            "new_member_id": applied.member.id if applied.member else None,
            "new_subscription_id": applied.subscription.id if applied.subscription else None,
            "new_invoice_id": applied.invoice.id if applied.invoice else None,
            "new_prefect_event": json.dumps(event) if event else None,
        },
    )
    return Accepted(webhook_id, applied.status, applied.event if event else None, applied.note)


# -- what the emitter and the CLI read -----------------------------------------------------------


def unemitted(engine: Engine, limit: int) -> list[tuple[int, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(inbox.c.id, inbox.c.prefect_event)
            .where(inbox.c.emitted_at.is_(None), inbox.c.prefect_event.is_not(None))
            .order_by(inbox.c.id)
            .limit(limit)
        ).all()
    return [(row.id, json.loads(row.prefect_event)) for row in rows]


def mark_emitted(engine: Engine, ids: Sequence[int], at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(inbox)
            .where(inbox.c.id.in_(ids))
            .values(emitted_at=at, emit_attempts=inbox.c.emit_attempts + 1, emit_error=None)
        )


def mark_emit_failed(engine: Engine, ids: Sequence[int], error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(inbox)
            .where(inbox.c.id.in_(ids))
            .values(emit_attempts=inbox.c.emit_attempts + 1, emit_error=error[:1000])
        )


def count_unemitted(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(inbox)
            .where(inbox.c.emitted_at.is_(None), inbox.c.prefect_event.is_not(None))
        ).scalar_one()


def list_webhooks(engine: Engine, status: str | None = None, limit: int = 50) -> list[dict]:
    columns = [inbox.c[name] for name in ("id", "provider", "event_type", "event_id", "status")]
    query = select(*columns, inbox.c.received_at, inbox.c.emitted_at, inbox.c.note)
    if status:
        query = query.where(inbox.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(inbox.c.id.desc()).limit(limit)).all()
    return [dict(row._mapping) for row in rows]


def reapply(
    engine: Engine, translate: Callable[[InboxEvent], Change], statuses=("unmatched", "failed")
) -> list[Accepted]:
    """Applies again, in the providers' time order, the stored webhooks that could not be
    applied (after ops imported the missing member, say)."""
    with Session(engine) as session:
        rows = (
            session.execute(
                select(InboxEvent)
                .where(InboxEvent.status.in_(statuses))
                .order_by(InboxEvent.occurred_at, InboxEvent.id)
            )
            .scalars()
            .all()
        )
        results = []
        for row in rows:
            results.append(_apply(session, row.id, translate(row)))
            session.commit()
    return results


def now() -> datetime:
    return datetime.now(UTC)
