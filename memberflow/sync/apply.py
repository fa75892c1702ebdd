"""Applying listed objects through the ingress's own path, and saying what each did.

An object is applied as of the moment its page was read: data memberflow learned later from a
webhook (a newer event) is not overwritten by it, and is reported as such.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from memberflow.core.models import InboxStatus, Invoice, Member, Subscription
from memberflow.ingress.apply import Applied, apply_change
from memberflow.ingress.changes import Change, Received
from memberflow.sync.checkpoint import Checkpoint, Resume, unfinished
from memberflow.sync.listed import Listed, Summary, Translate

# the columns a sync compares before and after: what memberflow knows, not when it learned it
_NOT_COMPARED = {"id", "provider_updated_at", "created_at", "updated_at"}
COMMIT_EVERY = 100  # objects per transaction: a commit (and a checkpoint) per page, not per object


def apply_listed(
    engine: Engine,
    translate: Translate,
    listed: Iterable[Listed],
    *,
    read_at: datetime,
    dry_run: bool = False,
    summary: Summary | None = None,
    progress: Callable[[Summary], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> Summary:
    """Applies each listed object in its own savepoint (a bad one is skipped, by id, and the
    rest go on), committed `COMMIT_EVERY` objects at a time together with the sync's
    `checkpoint` (so a cut sync resumes after the last batch written, with the summary of
    exactly that, and never writes an object twice or half); a dry run commits nothing and
    rolls everything back at the end, so its summary is exact (a subscription finds the member
    listed before it) and nothing is written. `progress` sees the summary after each object."""
    summary = summary or Summary()
    uncommitted = 0
    with Session(engine) as session:
        for item in listed:
            _summary_of(item, _applied(session, translate, item, read_at), summary)
            uncommitted += 1
            # a batch ends only where a checkpoint may stand (a subscription's failed invoice
            # goes with it), and not at all in a dry run
            if not dry_run and item.checkpoint is not None and uncommitted >= COMMIT_EVERY:
                if checkpoint is not None:
                    checkpoint.save(session, *item.checkpoint, summary)
                session.commit()
                uncommitted = 0
            session.expunge_all()  # memory stays flat however many objects
            if progress is not None:
                progress(summary)
        if dry_run:
            session.rollback()  # everything it wrote, to count exactly
            return summary
        if checkpoint is not None:
            checkpoint.finish(session)  # listed to the end: the next sync starts afresh
        session.commit()
    return summary


def _applied(session: Session, translate: Translate, item: Listed, read_at: datetime) -> str:
    """The object through the provider's translation and the ingress's apply, in a savepoint
    (undone unless applied); what came of it."""
    body = item.event if isinstance(item.event, bytes) else json.dumps(item.event).encode()
    received = Received({}, {}, body, read_at)
    try:
        change = translate(received)
    except Exception as error:  # noqa: BLE001 - one object the mapping refuses, by id
        return f"skipped: cannot be read: {error}"
    if change.event is None:  # the mapping ignores it, and says why
        return f"skipped: {change.ignored or 'ignored'}"
    with session.begin_nested() as savepoint:
        before = _snapshot(session, change, item.kind)
        applied = apply_change(session, change)
        session.flush()
        outcome = _outcome(applied, before, _snapshot(session, change, item.kind))
        if applied.status != InboxStatus.applied:
            savepoint.rollback()
    return outcome


def _summary_of(item: Listed, outcome: str, summary: Summary) -> None:
    if outcome.startswith("skipped: "):
        summary.skip(item.kind, item.object_id, outcome.removeprefix("skipped: "))
    else:
        summary.count(item.kind, outcome)


def _snapshot(session: Session, change: Change, kind: str) -> tuple[list, list]:
    """What memberflow holds of the object listed (the member of a customer, the subscription
    of a subscription, the invoice of an invoice, the member's subscriptions, where the card is
    kept, of a card), and of everything else the change touches (a MemberMouse member's status
    is on their subscription): (the object's rows, all the rows)."""
    member_id = change.member.external_id if change.member else None
    touched = {"member": select(Member).where(Member.external_id == member_id)}
    if change.subscription is not None:
        external_id = change.subscription.external_id
        touched["subscription"] = select(Subscription).where(
            Subscription.external_id == external_id
        )
    if change.invoice is not None:
        external_id = change.invoice.external_id
        touched["invoice"] = select(Invoice).where(Invoice.external_id == external_id)
    if kind == "card":
        touched["card"] = (
            select(Subscription)
            .join(Member, Member.id == Subscription.member_id)
            .where(Member.external_id == member_id)
            .order_by(Subscription.id)
        )
    rows = {name: _rows(session, query) for name, query in touched.items()}
    return rows.get(kind, rows["member"]), [row for found in rows.values() for row in found]


def _rows(session: Session, query) -> list[dict]:
    return [
        {k: v for k, v in row.model_dump().items() if k not in _NOT_COMPARED}
        for row in session.exec(query).all()
    ]


def _outcome(applied: Applied, before: tuple[list, list], after: tuple[list, list]) -> str:
    if applied.status == InboxStatus.stale:
        return "skipped: memberflow already has newer news of it (a webhook)"
    if applied.status != InboxStatus.applied:
        return f"skipped: {applied.status}: {applied.note}"
    if not before[0]:
        return "new"
    return "unchanged" if before[1] == after[1] else "changed"


# a provider's listing: (the summary to fill, where to resume, when it is read) -> its objects
Listing = Callable[[Summary, Resume | None, datetime], Iterator[Listed]]


def resumable_sync(
    engine: Engine,
    provider: str,
    translate: Translate,
    listing: Listing,
    *,
    dry_run: bool,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """A provider's sync, resumed where a cut one stopped (a dry run reads everything afresh
    and leaves a checkpoint alone): every provider's `sync` is this with its own listing."""
    read_at = datetime.now(UTC)
    resume = None if dry_run else unfinished(engine, provider)
    summary = resume.summary if resume else Summary()
    return apply_listed(
        engine,
        translate,
        listing(summary, resume, read_at),
        read_at=read_at,
        dry_run=dry_run,
        summary=summary,
        progress=progress,
        checkpoint=Checkpoint(provider, resume.started_at if resume else read_at),
    )
