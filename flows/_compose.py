"""The composition every touchpoint pipeline shares: plan in batches, then deliver in batches.
Not a flow itself (hence the underscore): each pipeline's flow calls `run_pipeline`."""

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from prefect import get_client, get_run_logger
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed, State
from sqlalchemy import Engine

from blocks.outputs.base import Output
from flows._blocks import resolve_output
from flows._partitions import run_partitions
from memberflow.core import clock
from memberflow.core.console import Progress
from memberflow.core.db import get_engine, require_schema, unavailable_means
from memberflow.core.settings import Settings
from memberflow.messaging.claims import LAPSE_MARGIN, DeliveryOptions, partitions
from memberflow.messaging.delivery import Enricher, new_token
from memberflow.messaging.pacing import Sending
from memberflow.messaging.protocols import DatePlanner, Pipeline
from memberflow.messaging.registry import template_folders
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import (
    FAILURE_REASONS,
    LANGUAGE_FALLBACKS,
    OUTPUT_FAILING,
    Tally,
    add_tally,
    steps_of,
)
from tasks.artifacts import publish_summary, start_progress, update_progress
from tasks.touchpoints import (
    abandoned_wait,
    advance_watermark,
    count_due,
    deliver_batch,
    plan_batch,
    planned_through,
    preview_batch,
)

T = TypeVar("T")
PROGRESS_EVERY = 3.0  # seconds between updates of a run's progress artifact
TERMINAL_PROGRESS = "MEMBERFLOW_TERMINAL_PROGRESS"  # set by `memberflow run` and `demo`


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
        require_schema(db)
        if not dry_run:
            with db.begin() as conn:
                if clock.admit(conn, as_of, simulate=simulate):
                    get_run_logger().info("a simulation: acting for %s", as_of.isoformat())
    return db, as_of


def run_pipeline(
    pipeline: Pipeline,
    *,
    settings: Settings,
    as_of: datetime | None,
    output: str | Output = "",
    batch_size: int = 500,
    lookback_days: int = 3,
    dry_run: bool = False,
    enrich: Enricher | None = None,
) -> list[dict]:
    """One run of a pipeline at `as_of`; returns the summary rows (also a table artifact).

    A `DatePlanner` is planned first, for every touchpoint due since its last completed
    planning pass (its watermark; `lookback_days` on the very first run), however long ago.
    Then every due touchpoint of the pipeline is delivered, whoever planned it.
    """
    as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
    db = get_engine(settings.database_url)
    lapse = (
        "this run stopped, and nothing is lost: the messages it held go back to the next run "
        f"{settings.claim_lease_seconds:.0f} s after its last renewal. Check the database, "
        "then run again"
    )
    with unavailable_means(db, lapse):
        require_schema(db)
        if not dry_run:  # a pipeline's own flow may have admitted it already: harmless twice
            with db.begin() as conn:
                clock.admit(conn, as_of, simulate=None)
        sink = output if isinstance(output, Output) else resolve_output(output, settings)
        renderer = Renderer(template_folders(settings), settings.default_locale)
        tally: Tally = {}
        with closing(sink):  # one set of connections for the whole run, closed at its end
            if isinstance(pipeline, DatePlanner):
                since = planned_through(db, pipeline.name) or as_of - timedelta(days=lookback_days)
                _plan(
                    db, pipeline, sink, renderer, settings, as_of, since, batch_size, dry_run, tally
                )
                if not dry_run:
                    advance_watermark(db, pipeline.name, as_of)
            if not dry_run:
                _deliver(
                    db,
                    pipeline,
                    renderer=renderer,
                    output=sink,
                    settings=settings,
                    as_of=as_of,
                    batch_size=batch_size,
                    options=DeliveryOptions(
                        token=new_token(),
                        channel=sink.channel,
                        lease=timedelta(seconds=settings.claim_lease_seconds),
                        sending=Sending(
                            getattr(sink, "rate_limit", None), gate=shared_gate(sink, settings)
                        ),
                    ),
                    enrich=enrich,
                    tally=tally,
                    reference=output if isinstance(output, str) else sink,
                )
    rows = publish_summary(pipeline.name, tally, as_of, dry_run)
    _report_failures(pipeline.name, sink, tally)
    return rows


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


def shared_gate(sink: Output, settings: Settings) -> Callable[[], Any] | None:
    """Where workers share outputs: a slot of the output's Prefect global concurrency limits
    around each send. They must exist (strict), or the run stops here, before claiming."""
    if not settings.shared_output_limits:
        return None
    names = [name for name in sink.shared_limit_names() if name]
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                raise OutputFailing(
                    f"MEMBERFLOW_SHARED_OUTPUT_LIMITS is on but the global concurrency limit "
                    f"{name!r} does not exist: run `memberflow server share-limits "
                    f"{_describe(sink)}` once (and again after changing the Block's limits)"
                ) from None
    return partial(shared_slot, *names)


@contextmanager
def shared_slot(in_flight: str, rate: str | None = None) -> Iterator[None]:
    """One send's share of an output's limits, across every worker."""
    if rate:
        rate_limit(rate, strict=True)
    with concurrency(in_flight, strict=True):
        yield


class OutputFailing(RuntimeError):
    """The output itself failed: the run is Failed, and says which Block, why and what to do."""


def _report_failures(pipeline: str, sink: Output, tally: Tally) -> None:
    """One WARNING per reason messages failed (a bad address, a template error); and when the
    output itself was failing, a Failed run that names it (the rest wait for the next run)."""
    log = get_run_logger()
    for reason, count in tally.get(FAILURE_REASONS, Counter()).most_common():
        log.warning("%s message(s) failed: %s; later runs retry them", count, reason)
    for note, count in tally.get(LANGUAGE_FALLBACKS, Counter()).most_common():
        log.warning("%s message(s) not in the member's language: %s", count, note)
    failing = tally.get(OUTPUT_FAILING)
    if failing:
        reason, count = failing.most_common(1)[0]
        waiting = sum(counts.get("not_tried", 0) for counts in steps_of(tally).values())
        raise OutputFailing(
            f"{pipeline}: the output {_describe(sink)} failed {count} times in a row ({reason}); "
            f"{waiting} message(s) were not tried and stay pending for the next run. "
            "Check that the server or endpoint is up and the Block's settings are right, "
            "then run again (nothing will be sent twice)."
        )


def _describe(sink: Output) -> str:
    name = getattr(sink, "_block_document_name", None)
    kind = (
        sink.get_block_type_slug() if hasattr(sink, "get_block_type_slug") else type(sink).__name__
    )
    return f"{kind}/{name}" if name else kind


def _plan(
    db: Engine,
    pipeline: DatePlanner,
    sink: Output,
    renderer: Renderer,
    settings: Settings,
    as_of: datetime,
    since: datetime,
    batch_size: int,
    dry_run: bool,
    tally: Tally,
) -> None:
    """Plans (or, in a dry run, previews) every step's touchpoints, batch by batch."""
    log = get_run_logger()
    plan = preview_batch if dry_run else plan_batch
    extra = {"renderer": renderer, "settings": settings} if dry_run else {}
    if since < as_of - timedelta(days=3):
        log.warning("planning since %s: the last completed run was long ago", since.isoformat())
    for step, selection in pipeline.selections(as_of, since):
        tally.setdefault(step.name, Counter())  # list every step, even with nothing to do
        batches = cursor_loop(
            selection.start,
            lambda after, step=step, selection=selection: plan(
                db,
                pipeline,
                step,
                selection,
                as_of=as_of,
                since=since,
                channel=sink.channel,
                after=after,
                limit=batch_size,
                **extra,
            ),
        )
        for step_tally in batches:
            counts = step_tally[step.name]
            if counts:
                log.info("%s: %s", step.name, _sentence(counts))
            add_tally(tally, step_tally)


def _deliver(
    db: Engine,
    pipeline: Pipeline,
    *,
    renderer: Renderer,
    output: Output,
    settings: Settings,
    as_of: datetime,
    batch_size: int,
    options: DeliveryOptions,
    enrich: Enricher | None,
    tally: Tally,
    reference: str | Output = "",
) -> None:
    """Delivers every due touchpoint batch by batch (or, with MEMBERFLOW_DELIVERY_PARTITIONS,
    in id ranges side by side on the task runner; `reference` is the output as the workers get
    it), adding the outcomes to `tally`. Then, if
    another run holds some (it crashed, or it is still sending), waits once for their leases to
    lapse and takes what a dead run left: a live one renews, and keeps them."""
    log = get_run_logger()
    total = count_due(db, pipeline, as_of=as_of, options=options)
    if total == 0:
        log.info("nothing due to deliver at %s", as_of.isoformat(timespec="minutes"))

    def one_pass() -> Iterator[Tally]:
        return cursor_loop(
            0,
            lambda after: deliver_batch(
                db,
                pipeline,
                renderer=renderer,
                output=output,
                settings=settings,
                as_of=as_of,
                after_id=after,
                limit=batch_size,
                options=options,
                enrich=enrich,
            ),
        )

    def report(batches: Iterable[Tally]) -> None:
        counted = with_progress(
            pipeline.name,
            total,
            batches,
            lambda t: sum(sum(c.values()) for c in steps_of(t).values()),  # not the "!" notes
        )
        for batch_tally, done in counted:
            add_tally(tally, batch_tally)
            steps = "; ".join(f"{s}: {_sentence(c)}" for s, c in steps_of(batch_tally).items())
            log.info("delivered %s of %s (%s)", done, total, steps)

    if settings.delivery_partitions > 1 and enrich is None:  # an enricher stays in this process
        ranges = partitions(db, pipeline, as_of, options, settings.delivery_partitions)

        def one_pass() -> Iterator[Tally]:
            yield run_partitions(
                pipeline,
                ranges=ranges,
                output=reference,
                settings=settings,
                as_of=as_of,
                batch_size=batch_size,
                options=options,
            )

    report(one_pass())
    if _wait_for_abandoned(db, pipeline, as_of, options):
        report(one_pass())


def _wait_for_abandoned(
    db: Engine, pipeline: Pipeline, as_of: datetime, options: DeliveryOptions
) -> bool:
    """Whether another run's claims lapsed while we waited (it died: take its messages). Stops
    waiting as soon as that run renews them (it is alive and sending) or finishes."""
    held, seconds = abandoned_wait(db, pipeline, as_of, options)
    if not held or seconds > 2 * options.lease.total_seconds():
        return False
    get_run_logger().info(
        "%s message(s) are held by another run (crashed, or still sending); waiting up to "
        "%.0f s for its claim to lapse",
        held,
        seconds,
    )
    while True:
        time.sleep(min(seconds, 2.0))
        held, later = abandoned_wait(db, pipeline, as_of, options)
        if not held or later > seconds:  # it finished, or it renewed: it is alive
            return False
        if later <= LAPSE_MARGIN:  # lapsed
            return True
        seconds = later


def _sentence(counts: Counter) -> str:
    """`Counter(sent=498, failed=2)` as "498 sent, 2 failed"."""
    return ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in counts.items() if n)


def with_progress(
    key: str, total: int, batches: Iterable[T], size: Callable[[T], int]
) -> Iterator[tuple[T, int]]:
    """Each batch with the running count of items done, moving the `key` progress bar (and
    one on the terminal, when the command line asked for it). The artifact moves at most every
    few seconds: each update costs the server about 60 ms, more than a batch of fast sends."""
    progress, done, shown = start_progress(key, total), 0, time.monotonic()
    terminal = Progress(key, total) if os.environ.get(TERMINAL_PROGRESS) and total else None
    for batch in batches:
        done += size(batch)
        if time.monotonic() - shown >= PROGRESS_EVERY or done >= total:
            update_progress(progress, min(done, total), total)
            shown = time.monotonic()
        if terminal:
            terminal.update(min(done, total))
        yield batch, done


def cursor_loop(start: Any, run_batch: Callable[[Any], tuple[Any, Tally]]) -> Iterator[Tally]:
    """Calls `run_batch(cursor)` from `start`, batch after batch, until it returns no cursor."""
    cursor = start
    while cursor is not None:
        cursor, tally = run_batch(cursor)
        yield tally
