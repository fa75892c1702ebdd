"""A flow run's frame: its name in the runs list, the database and moment it may act for, a
pipeline run as its stages share it, and how it ends (Completed, "Completed with failures",
or Failed naming the output)."""

from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from prefect import get_run_logger
from prefect.states import Completed, State
from sqlalchemy import Engine

from blocks.outputs.base import Output
from flows._blocks import OutputFailing, describe, resolve_output
from memberflow.core import clock
from memberflow.core.db import get_engine, require_schema, unavailable_means
from memberflow.core.settings import Settings
from memberflow.messaging.protocols import Pipeline
from memberflow.messaging.registry import template_folders
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import (
    DEAD_LETTERS,
    FAILURE_REASONS,
    LANGUAGE_FALLBACKS,
    OUTPUT_FAILING,
    Tally,
    steps_of,
)
from tasks.artifacts import publish_summary

T = TypeVar("T")


def run_name(pipeline: str, precision: str = "day"):
    """A flow run name from its parameters (`reminders 2026-12-01`), for the runs list."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        as_of = params.get("as_of") or datetime.now(UTC)
        as_of = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        when = as_of.strftime("%Y-%m-%d" if precision == "day" else "%Y-%m-%dT%H:%M")
        extra = [
            f"{key} {params[key]}" for key in ("invoice_id", "subscription_id") if params.get(key)
        ]
        dry = " (dry run)" if params.get("dry_run") else ""
        return " ".join([pipeline, when, *extra]) + dry

    return name


def open_run(
    settings: Settings, as_of: datetime | None, *, simulate: bool | None, dry_run: bool = False
) -> tuple[Engine, datetime]:
    """A run's database and moment: the schema is there, and this database may act for that
    moment (a real database never for the future, a simulation never beside real runs:
    memberflow.core.clock). A dry run writes nothing, so it may look anywhere."""
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    db = get_engine(settings.database_url)
    with unavailable_means(db, "nothing was done; check the database, then run again"):
        _ready(db, as_of, simulate=simulate, dry_run=dry_run)  # run_pipeline says if simulated
    return db, as_of


def _ready(db: Engine, as_of: datetime, *, simulate: bool | None, dry_run: bool) -> bool:
    """Checks the schema is there and, unless a dry run (it writes nothing, so it may look
    anywhere), admits `as_of` on this database; True when the run is a simulation."""
    require_schema(db)
    if dry_run:
        return False
    with db.begin() as conn:
        return clock.admit(conn, as_of, simulate=simulate)


@dataclass
class PipelineRun:
    """One run of a pipeline, as its planning and delivery stages share it."""

    pipeline: Pipeline
    settings: Settings
    db: Engine
    as_of: datetime
    sink: Output  # the output, open for the whole run
    reference: str | Output  # the output as delivery workers get it (a Block's reference)
    renderer: Renderer
    dry_run: bool
    tally: Tally = field(default_factory=dict)  # what the stages did, added up
    rows: list[dict] = field(default_factory=list)  # the summary, once the run is done


@contextmanager
def pipeline_run(
    pipeline: Pipeline,
    settings: Settings,
    as_of: datetime | None,
    output: str | Output,
    dry_run: bool,
    simulate: bool | None = None,
) -> Iterator[PipelineRun]:
    """The run its stages share: the database (its schema there, this moment admitted), the
    output (closed when the run is done) and the renderer. A database outage meanwhile ends
    the run with what happens to the messages it held. When the stages are done: the summary
    artifact (`rows`), and the failures reported."""
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    db = get_engine(settings.database_url)
    lapse = (
        "this run stopped, and nothing is lost: the messages it held go back to the next run "
        f"{settings.claim_lease_seconds:.0f} s after its last renewal. Check the database, "
        "then run again"
    )
    with unavailable_means(db, lapse):
        # a pipeline's own flow may have admitted it already (open_run): harmless twice
        if _ready(db, as_of, simulate=simulate, dry_run=dry_run):
            get_run_logger().info("a simulation: acting for %s", as_of.isoformat())
        sink = output if isinstance(output, Output) else resolve_output(output, settings)
        renderer = Renderer(template_folders(settings), settings.default_locale)
        run = PipelineRun(pipeline, settings, db, as_of, sink, output, renderer, dry_run)
        with closing(sink):  # one set of connections for the whole run, closed at its end
            yield run
    run.rows = publish_summary(pipeline.name, run.tally, as_of, dry_run)
    report_failures(pipeline.name, sink, run.tally)


WITH_FAILURES = "Completed with failures"  # a state name ops can filter and automate on


def finished(result: T, *totals: dict) -> T | State:
    """A flow's return value: `result`, or, when messages it owed failed or went dead, a
    Completed state named `Completed with failures` that carries it and says how many (the
    runs list shows the name; docs/operations.md, "Failures")."""
    failed = sum(total.get("failed", 0) for total in totals)
    dead = sum(total.get("dead", 0) for total in totals)
    if not (failed or dead):
        return result
    message = (
        f"{dead} message(s) dead (they need a person: memberflow touchpoints --status dead), "
        f"{failed} failed (later runs retry them); the run's warnings say why"
    )
    return Completed(name=WITH_FAILURES, message=message, data=result)


def report_failures(pipeline: str, sink: Output, tally: Tally) -> None:
    """One WARNING per reason messages failed (a bad address, a template error); and when the
    output itself was failing, a Failed run that names it (the rest wait for the next run)."""
    log = get_run_logger()
    for reason, count in tally.get(FAILURE_REASONS, Counter()).most_common():
        log.warning("%s message(s) failed: %s; later runs retry them", count, reason)
    for letter in tally.get(DEAD_LETTERS, Counter()):
        log.warning("dead, not sent: %s (fix it, then: memberflow requeue KEY)", letter)
    for note, count in tally.get(LANGUAGE_FALLBACKS, Counter()).most_common():
        log.warning("%s message(s) not in the member's language: %s", count, note)
    failing = tally.get(OUTPUT_FAILING)
    if failing:
        reason, count = failing.most_common(1)[0]
        waiting = sum(counts.get("not_tried", 0) for counts in steps_of(tally).values())
        raise OutputFailing(
            f"{pipeline}: the output {describe(sink)} failed {count} times in a row ({reason}); "
            f"{waiting} message(s) were not tried; they and the rest stay pending for the next "
            "run. "
            "Check that the server or endpoint is up and the Block's settings are right, "
            "then run again (nothing will be sent twice)."
        )
