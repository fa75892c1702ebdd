"""The delivery stage of a pipeline's run: every due touchpoint, batch by batch as task runs
(or in id ranges side by side), with the run's progress; then what a crashed run left."""

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from prefect import get_run_logger
from sqlalchemy import Engine

from flows._blocks import shared_gate
from flows._partitions import run_partitions
from flows.runs import PipelineRun
from memberflow.messaging.claims import LAPSE_MARGIN, DeliveryOptions, partitions
from memberflow.messaging.delivery import Enricher, new_token
from memberflow.messaging.pacing import Sending
from memberflow.messaging.protocols import Pipeline
from memberflow.messaging.tally import Tally, add_tally, steps_of
from tasks import cursor_loop
from tasks.artifacts import sentence, with_progress
from tasks.touchpoints import abandoned_wait, count_due, deliver_batch

MAX_TAKEOVERS = 8  # passes over a dead run's rows: a bound, never reached in practice


def deliver_all(run: PipelineRun, batch_size: int, enrich: Enricher | None) -> None:
    """Delivers every due touchpoint batch by batch (or, with MEMBERFLOW_DELIVERY_PARTITIONS,
    in id ranges side by side on the task runner; `reference` is the output as the workers get
    it), adding the outcomes to `tally`. Then, while
    another run holds some (it crashed, or it is still sending), waits for their leases to
    lapse and takes what a dead run left: a live one renews, and keeps them."""
    log = get_run_logger()
    db, pipeline, as_of, settings, tally = run.db, run.pipeline, run.as_of, run.settings, run.tally
    renderer, output, reference = run.renderer, run.sink, run.reference
    options = DeliveryOptions(
        token=new_token(),
        channel=output.channel,
        lease=timedelta(seconds=settings.claim_lease_seconds),
        sending=Sending(getattr(output, "rate_limit", None), gate=shared_gate(output, settings)),
    )
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
            steps = "; ".join(f"{s}: {sentence(c)}" for s, c in steps_of(batch_tally).items())
            log.info("delivered %s of %s (%s)", done, total, steps)

    if settings.delivery_partitions > 1 and enrich is None:  # an enricher stays in this process
        def one_pass() -> Iterator[Tally]:
            # each pass splits what is claimable now: a dead run's rows lapse after the first
            ranges = partitions(db, pipeline, as_of, options, settings.delivery_partitions)
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
    # A dead run's rows may lapse at several moments (a batch claimed more rows after its last
    # renewal): each pass takes what has lapsed, until no row is held or the holder is alive.
    for _ in range(MAX_TAKEOVERS):
        if not _wait_for_abandoned(db, pipeline, as_of, options):
            break
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
