"""Which moments a run may act for, and why time travel and real runs never share a database.

A run acts for `as_of`. Replaying a past day is ordinary (a missed run, a backfill). Acting for
a moment ahead of the clock is not: it sends what is not due yet and records as expired what is
not late yet, and those records would stop the real run on that day from doing its work. So a
run ahead of the clock is a *simulation*, and a database is either real or a simulation, for
good: the first run that writes to it decides (the demo's database is made a simulation).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, select

from memberflow.core.db import insert_for
from memberflow.core.models import DatabaseRole

# The clocks of the worker, the database and the Prefect server may disagree a little.
AHEAD_ALLOWED = timedelta(minutes=15)


class Role(StrEnum):
    real = "real"
    simulation = "simulation"


class MomentRefused(ValueError):
    """A run asked to act for a moment, or on a database, that it must not."""


@dataclass(frozen=True)
class Verdict:
    simulate: bool
    mark: Role | None  # the role to record: this is the database's first run


def judge(
    as_of: datetime, *, now: datetime, simulate: bool | None, role: Role | None, since=None
) -> Verdict:
    """Whether a run for `as_of` may go on, given the database's role (None: no run yet).

    `simulate=None` follows the database (a simulation database simulates); True or False is
    what the operator said (`memberflow run --simulate`), and must agree with the database.
    """
    if simulate is None:
        simulate = role is Role.simulation
    if simulate:
        if role is Role.real:
            raise MomentRefused(
                f"this database holds real runs (since {_day(since)}): a simulation would "
                "record sends and expiries that stop real runs from doing their work. Simulate "
                "on a copy of it (point MEMBERFLOW_DATABASE_URL at the copy), or use --dry-run"
            )
        return Verdict(True, None if role else Role.simulation)
    if role is Role.simulation:
        raise MomentRefused(
            f"this database is a simulation (since {_day(since)}): what its simulated days "
            "recorded would stop real runs from doing their work. Give real runs a database of "
            "their own, or pass --simulate (flow parameter simulate=true) to go on simulating"
        )
    ahead = as_of - now
    if ahead > AHEAD_ALLOWED:
        raise MomentRefused(
            f"--as-of {as_of.isoformat()} is {_span(ahead)} ahead of the clock: a real run "
            "never acts for the future (it would send early and expire what is not late yet). "
            "To see what it would do: --dry-run (writes nothing) or `memberflow forecast`; to "
            "rehearse it: --simulate, on a database kept for simulations"
        )
    return Verdict(False, None if role else Role.real)


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    if delta >= timedelta(hours=2):
        return f"{delta // timedelta(hours=1)} hours"
    return f"{delta // timedelta(minutes=1)} minutes"


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "its first run"


def role_of(conn: Connection) -> tuple[Role | None, datetime | None]:
    """The database's role and since when, or (None, None) before its first run."""
    table = DatabaseRole.__table__
    row = conn.execute(select(table.c.role, table.c.since).where(table.c.id == 1)).first()
    return (Role(row.role), row.since) if row else (None, None)


def mark(conn: Connection, role: Role, now: datetime) -> None:
    """Records the database's role; a racing first run that recorded one first wins."""
    statement = insert_for(conn.dialect.name, DatabaseRole.__table__)
    conn.execute(
        statement.values(id=1, role=role.value, since=now).on_conflict_do_nothing(
            index_elements=["id"]
        )
    )


def admit(
    conn: Connection, as_of: datetime, *, simulate: bool | None, now: datetime | None = None
) -> bool:
    """Judges a run against the database (raising `MomentRefused`), records the role on the
    database's first run, and says whether this run is a simulation."""
    now = now or datetime.now(UTC)
    role, since = role_of(conn)
    verdict = judge(as_of, now=now, simulate=simulate, role=role, since=since)
    if verdict.mark is not None:
        mark(conn, verdict.mark, now)
        role_now, _ = role_of(conn)  # another first run may have got there first
        if role_now is not verdict.mark:
            return admit(conn, as_of, simulate=simulate, now=now)
    return verdict.simulate
