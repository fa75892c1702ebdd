"""Data-subject requests: everything memberflow holds on a member, and erasing it.

Both walk the schema rather than a list of tables: any table that points at a member, one of
their subscriptions or one of their invoices is theirs, so a table a pipeline adds later is
exported and checked for erasure without a change here. Erasure keeps the rows (anonymous counts
stay true for analytics) but removes what identifies the person: name, email, addresses,
free text, and the webhooks' payloads; the member is marked erased, which blocks any message.
"""

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, or_, select, update
from sqlmodel import SQLModel

import memberflow.core.models  # noqa: F401 (every table on the metadata)
from memberflow.core.models import InboxEvent, Member, Subscription, TouchpointStatus

log = logging.getLogger("memberflow.privacy")
member, subscription = Member.__table__, Subscription.__table__
ERASED_BODY = '{"erased": true}'

# free text people write, by table: emptied on erasure
FREE_TEXT = {
    "subscription": ("cancel_comment",),
    "cancellation": ("comment",),
    "survey_response": ("comment",),
    "lifecycle_fact": ("comment",),
    "cancel_visit": ("comment",),  # what a member wrote on the cancel page
}


def _ids(conn: Connection, email: str) -> dict[str, list[int]]:
    members = list(conn.execute(select(member.c.id).where(member.c.email == email)).scalars())
    subs = list(
        conn.execute(
            select(subscription.c.id).where(subscription.c.member_id.in_(members))
        ).scalars()
    )
    invoice = SQLModel.metadata.tables["invoice"]
    invoices = list(
        conn.execute(select(invoice.c.id).where(invoice.c.subscription_id.in_(subs))).scalars()
    )
    return {"member": members, "subscription": subs, "invoice": invoices}


def _owned_rows(conn: Connection, table: Table, ids: dict[str, list[int]]) -> list[dict]:
    if table.name in ids:
        query = select(table).where(table.c.id.in_(ids[table.name]))
    else:
        links = [table.c[f"{kind}_id"].in_(ids[kind]) for kind in ids if f"{kind}_id" in table.c]
        if not links:
            return []
        query = select(table).where(or_(*links))
    return [dict(row._mapping) for row in conn.execute(query)]


def export(conn: Connection, email: str) -> dict[str, Any]:
    """Every row about the member(s) with this email, by table; {} when there are none."""
    ids = _ids(conn, email)
    if not ids["member"]:
        return {}
    found = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = _owned_rows(conn, table, ids)
        if rows:
            found[table.name] = [_plain(row) for row in rows]
    log.info("exported the data of %d member(s) with a given email", len(ids["member"]))
    return found


def _plain(row: dict) -> dict:
    return {
        name: value.isoformat() if isinstance(value, datetime | date) else value
        for name, value in row.items()
    }


def erase(conn: Connection, email: str, now: datetime | None = None) -> int:
    """Erases the member(s) with this email; returns how many. Messages not yet sent are
    skipped now, and the engine refuses any later one (the member is marked erased)."""
    now = now or datetime.now(UTC)
    ids = _ids(conn, email)
    for member_id in ids["member"]:
        conn.execute(
            update(member)
            .where(member.c.id == member_id)
            .values(
                email=f"erased-{member_id}@erased.invalid",
                first_name="",
                last_name="",
                billing_address=None,
                shipping_address=None,
                marketing_consent=False,
                erased_at=now,
            )
        )
    tables = SQLModel.metadata.tables
    for name, columns in FREE_TEXT.items():
        owner = "id" if name == "subscription" else "subscription_id"
        conn.execute(
            update(tables[name])
            .where(tables[name].c[owner].in_(ids["subscription"]))
            .values(dict.fromkeys(columns))
        )
    inbox = InboxEvent.__table__
    conn.execute(
        update(inbox)
        .where(
            (inbox.c.member_id.in_(ids["member"]))
            | (inbox.c.subscription_id.in_(ids["subscription"]))
        )
        .values(body=ERASED_BODY, note=None)
    )
    touchpoint = tables["touchpoint"]
    conn.execute(
        update(touchpoint)
        .where(
            touchpoint.c.subscription_id.in_(ids["subscription"]),
            touchpoint.c.status.in_((TouchpointStatus.pending, TouchpointStatus.failed)),
        )
        .values(status=TouchpointStatus.skipped, error="the member asked to be erased")
    )
    log.info("erased %d member(s) on request", len(ids["member"]))
    return len(ids["member"])


def to_json(found: dict[str, Any]) -> str:
    return json.dumps(found, indent=2, ensure_ascii=False, default=str)
