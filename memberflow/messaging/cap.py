"""The contact cap at send time: which of a batch's touchpoints may go now (the rules
themselves, pure, are in consent.py)."""

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import Timing, timing
from memberflow.messaging import store
from memberflow.messaging.consent import ContactCap, Kind, kind_of
from memberflow.messaging.protocols import TouchpointRow
from memberflow.messaging.store import Outcome

Record = Callable[[TouchpointRow, Outcome], None]
HELD_BY_CAP = "held by the contact cap"  # a held message's error, until it goes or is `held`


def within_cap(
    conn: Connection,
    sendable: list,
    cap: ContactCap,
    as_of: datetime,
    record: Record,
    in_flight: Counter | None = None,
) -> list:
    """The touchpoints the contact cap lets through now. Marketing held back goes back to
    pending for a later run while it can still be on time, else it is recorded `held`.
    Everything sent counts, transactional included; so do the sends of this very batch, and
    `in_flight`: per member, messages let through earlier and not recorded yet."""
    member_ids = sorted({row.member_id for _, row in sendable if row.member_id is not None})
    if not cap.rules or not member_ids:
        return sendable
    recent = store.recent_sends(conn, member_ids, as_of - cap.longest)
    in_flight = in_flight or Counter()
    for member_id in member_ids:
        recent[member_id] += [as_of] * in_flight[member_id]
    allowed = []
    for step, row in sendable:
        contacts = recent.setdefault(row.member_id, [])
        wait = cap.next_allowed(contacts, as_of) if kind_of(step) is Kind.marketing else None
        if wait is None:
            contacts.append(as_of)
            allowed.append((step, row))
        elif timing(row.due_at, wait, step.lateness) is Timing.expired:
            record(row, Outcome(Status.held, row.attempts, error=HELD_BY_CAP))
        else:
            why = f"{HELD_BY_CAP} until {wait.isoformat(timespec='minutes')}"
            record(row, Outcome(Status.pending, row.attempts, error=why))
    return allowed
