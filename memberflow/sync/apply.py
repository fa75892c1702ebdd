"""Applying listed objects through the ingress's own path, and saying what each did.

An object is applied as of the moment its page was read: data memberflow learned later from a
webhook (a newer event) is not overwritten by it, and is reported as such.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, select

from memberflow.core.models import InboxStatus, Invoice, Member, Subscription
from memberflow.ingress.apply import Applied, apply_change
from memberflow.ingress.changes import Change, Received

if TYPE_CHECKING:  # the checkpoint keeps a Summary
    from memberflow.sync.checkpoint import Checkpoint

# the columns a sync compares before and after: what memberflow knows, not when it learned it
_NOT_COMPARED = {"id", "provider_updated_at", "created_at", "updated_at"}
KEPT_DETAILS = 100  # objects skipped or noted a checkpoint names by id; the rest are counted
COMMIT_EVERY = 100  # objects per transaction: a commit (and a checkpoint) per page, not per object


@dataclass(frozen=True)
class Listed:
    """One object from the provider's API, as the event that would have told us of it."""

    kind: str  # "customer", "subscription", "card": the summary's rows
    object_id: str
    event: dict | bytes  # as the provider's webhook: its JSON object, or its body (a form)
    # once this is written, a cut sync may resume with the list `phase` after the object
    # `after` (the last object of a group: a subscription's failed invoice, not the subscription)
    checkpoint: tuple[str, str] | None = None


@dataclass
class Summary:
    """What a sync did, per kind: new, changed, unchanged, and skipped with the reason."""

    counts: dict[str, Counter] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, why)
    noted: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, what)

    def count(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    def skip(self, kind: str, object_id: str, why: str) -> None:
        self.count(kind, "skipped")
        self.skipped.append((kind, object_id, why))

    def note(self, kind: str, object_id: str, what: str) -> None:
        """Applied, but ops should know (several items on one subscription, no card)."""
        self.noted.append((kind, object_id, what))

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.counts.values())

    def sentence(self) -> str:
        return ", ".join(f"{kind}s {sum(c.values()):,}" for kind, c in self.counts.items())

    def differences(self) -> dict[str, int]:
        """Per kind, the objects found new or changed: what memberflow did not know."""
        found = {kind: c["new"] + c["changed"] for kind, c in self.counts.items()}
        return {kind: n for kind, n in found.items() if n}

    def to_json(self) -> str:
        """The counts, and the first of the objects skipped or noted (a checkpoint keeps it)."""
        return json.dumps(
            {
                "counts": self.counts,
                "skipped": self.skipped[:KEPT_DETAILS],
                "noted": self.noted[:KEPT_DETAILS],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Summary":
        saved = json.loads(text or "{}")
        return cls(
            counts={kind: Counter(c) for kind, c in saved.get("counts", {}).items()},
            skipped=[tuple(s) for s in saved.get("skipped", [])],
            noted=[tuple(n) for n in saved.get("noted", [])],
        )

    def rows(self) -> list[dict]:
        outcomes = ("new", "changed", "unchanged", "skipped")
        return [
            {"kind": kind, **{o: counts.get(o, 0) for o in outcomes}}
            for kind, counts in self.counts.items()
        ]


Translate = Callable[[Received], Change]


def apply_listed(
    engine: Engine,
    translate: Translate,
    listed: Iterable[Listed],
    *,
    read_at: datetime,
    dry_run: bool = False,
    summary: Summary | None = None,
    progress: Callable[[Summary], None] | None = None,
    checkpoint: "Checkpoint | None" = None,
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
