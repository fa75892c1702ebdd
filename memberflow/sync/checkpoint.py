"""Where a cut sync resumes: one row per provider while its sync is unfinished.

A sync of a large business takes minutes to hours, and a network error, a storm of 429s or
Ctrl-C may cut it. Each object is written in its own transaction together with the checkpoint
(the list being read, the last object written, the summary so far), so the next sync starts
from the page after it: nothing is written twice or half, and the summary adds up.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, update
from sqlmodel import Session

from memberflow.core.models import SyncCheckpoint
from memberflow.sync.listed import Summary


@dataclass(frozen=True)
class Resume:
    """Where to start: the provider's list (`phase`), after the object `after`."""

    phase: str
    after: str | None
    started_at: datetime
    summary: Summary


class Checkpoint:
    """The checkpoint of one provider's sync (not used by a dry run: it writes nothing)."""

    def __init__(self, provider: str, started_at: datetime):
        self.provider, self.started_at = provider, started_at
        self._written = False

    def save(self, session: Session, phase: str, after: str, summary: Summary) -> None:
        """In the transaction that writes the object `after` (one UPDATE once the row is
        there: it runs once per object)."""
        values = {
            "phase": phase,
            "after": after,
            "summary": summary.to_json(),
            "updated_at": datetime.now(UTC),
        }
        if self._written:
            table = SyncCheckpoint.__table__
            session.execute(update(table).where(table.c.provider == self.provider).values(**values))
            return
        row = SyncCheckpoint(provider=self.provider, started_at=self.started_at, **values)
        session.merge(row)
        self._written = True

    def finish(self, session: Session) -> None:
        found = session.get(SyncCheckpoint, self.provider)
        if found is not None:
            session.delete(found)


def unfinished(engine: Engine, provider: str) -> Resume | None:
    """The provider's sync that was cut, if any."""
    with Session(engine) as session:
        found = session.get(SyncCheckpoint, provider)
        if found is None:
            return None
        return Resume(found.phase, found.after, found.started_at, Summary.from_json(found.summary))


def forget(engine: Engine, provider: str) -> None:
    """Start the next sync from the beginning (`--restart`)."""
    with Session(engine) as session:
        Checkpoint(provider, datetime.now(UTC)).finish(session)
        session.commit()
