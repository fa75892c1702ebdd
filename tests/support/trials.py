"""The reliability suite's tools: a real reminder run (`memberflow run reminders`) in a child
process against the test database and the session's Prefect server, killed or not, and what a
counting receiver saw. The number of trials comes from MEMBERFLOW_TRIALS: a few in `make test`,
20 in `make reliability`."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect.settings import PREFECT_API_URL
from sqlalchemy import Engine, select, text

from memberflow.core.models import Touchpoint
from tests.support.databases import TABLES

TRIALS = int(os.environ.get("MEMBERFLOW_TRIALS", "3"))
LEASE_SECONDS = 2.0  # short, so a rerun waits out a dead run's claim in seconds
MEMBERFLOW = str(Path(sys.executable).parent / "memberflow")


def child_environment(database_url: str, **extra: str) -> dict[str, str]:
    api = {"PREFECT_API_URL": PREFECT_API_URL.value()} if PREFECT_API_URL.value() else {}
    return {
        **os.environ,
        "MEMBERFLOW_DATABASE_URL": database_url,
        "MEMBERFLOW_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
        "MEMBERFLOW_TERMINAL_PROGRESS": "0",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        **api,
        **extra,
    }


@dataclass
class Run:
    returncode: int
    output: str
    killed: bool

    @property
    def sent(self) -> int:
        """The `sent` column of the summary's total row."""
        header = next(line for line in self.output.splitlines() if line.startswith("step "))
        total = next(line for line in self.output.splitlines() if line.startswith("total "))
        return int(dict(zip(header.split(), total.split(), strict=True))["sent"])


def run_reminders(
    database_url: str,
    as_of: str,
    output: str,
    kill_when: Callable[[], bool] | None = None,
    batch_size: int = 20,
    timeout: float = 180,
    **environment: str,
) -> Run:
    """`memberflow run reminders` in a child process; SIGKILLed the moment `kill_when()` holds."""
    command = [MEMBERFLOW, "run", "reminders", "--simulate", "--as-of", as_of, "--output", output]
    command += ["--batch-size", str(batch_size)]  # several claims a run, as on a real day
    child = subprocess.Popen(
        command,
        env=child_environment(database_url, **environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed, deadline = False, time.monotonic() + timeout
    while kill_when is not None and child.poll() is None and time.monotonic() < deadline:
        if kill_when():
            os.killpg(child.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.001)
    try:
        output_text, _ = child.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output_text, _ = child.communicate()
        raise AssertionError(f"the run did not finish in {timeout} s:\n{output_text}") from None
    return Run(child.returncode, output_text, killed)


def recorded(engine: Engine) -> dict[str, str]:
    """Every touchpoint's idempotency key and status."""
    with engine.connect() as conn:
        rows = conn.execute(select(Touchpoint.key, Touchpoint.status))
        return {key: str(getattr(status, "value", status)) for key, status in rows}


def received(requests) -> Counter:
    return Counter(request.headers["Idempotency-Key"] for request in list(requests))


def dead_sessions_gone(engine: Engine, timeout: float = 30.0) -> None:
    """Waits until no other database session holds a lock on the outbox: a killed run's
    PostgreSQL backend ends its transaction only once it notices the client is gone, and a
    rerun skips the rows it still locks (they wait for the next run; nothing is lost, but the
    test's rerun would not complete). SQLite's locks die with the process."""
    if engine.dialect.name != "postgresql":
        return
    held = text(
        "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'touchpoint' AND l.pid <> pg_backend_pid() "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(held).scalar() == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"a killed run's database session still holds locks after {timeout} s")


def empty(engine: Engine) -> None:
    """Every table emptied, between two trials in one test."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES.split(", "):
                conn.execute(text(f"DELETE FROM {table}"))
