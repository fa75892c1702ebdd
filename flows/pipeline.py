"""`run_pipeline`, the composition every touchpoint pipeline's flow calls: plan in batches
since the pipeline's watermark, then deliver in batches (or in partitions side by side), then
publish the summary and say what failed. Public to plug-ins through `memberflow.plugin`."""

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger
from sqlalchemy import Engine

from blocks.outputs.base import Output
from flows._blocks import resolve_output, shared_gate
from flows._partitions import run_partitions
from flows.runs import report_failures
from memberflow.core import clock
from memberflow.core.db import get_engine, require_schema, unavailable_means
from memberflow.core.settings import Settings
from memberflow.messaging.claims import LAPSE_MARGIN, DeliveryOptions, partitions
from memberflow.messaging.delivery import Enricher, new_token
from memberflow.messaging.pacing import Sending
from memberflow.messaging.protocols import DatePlanner, Pipeline
from memberflow.messaging.registry import template_folders
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import Tally, add_tally, steps_of
from tasks.artifacts import publish_summary, with_progress
from tasks.touchpoints import (
    abandoned_wait,
    advance_watermark,
    count_due,
    deliver_batch,
    plan_batch,
    planned_through,
    preview_batch,
)


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
    report_failures(pipeline.name, sink, tally)
    return rows


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


def cursor_loop(start: Any, run_batch: Callable[[Any], tuple[Any, Tally]]) -> Iterator[Tally]:
    """Calls `run_batch(cursor)` from `start`, batch after batch, until it returns no cursor."""
    cursor = start
    while cursor is not None:
        cursor, tally = run_batch(cursor)
        yield tally
