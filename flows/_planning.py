"""The planning stage of a pipeline's run: every step's touchpoints due since the last
completed pass, batch by batch as task runs, then the watermark moved on."""

from collections import Counter
from datetime import timedelta

from prefect import get_run_logger

from flows.runs import PipelineRun
from memberflow.messaging.protocols import PlanningWindow
from memberflow.messaging.tally import add_tally
from tasks import cursor_loop
from tasks.artifacts import sentence
from tasks.touchpoints import advance_watermark, plan_batch, planned_through, preview_batch


def plan_all(run: PipelineRun, batch_size: int, lookback_days: int) -> None:
    """Plans (or, in a dry run, previews) every step's touchpoints due since the pipeline's
    last completed planning pass (its watermark; `lookback_days` on its very first run), batch
    by batch, adding the counts to the run's tally; then moves the watermark to `as_of`."""
    log = get_run_logger()
    db, pipeline, as_of, dry_run, tally = run.db, run.pipeline, run.as_of, run.dry_run, run.tally
    renderer, settings, sink = run.renderer, run.settings, run.sink
    since = planned_through(db, pipeline.name) or as_of - timedelta(days=lookback_days)
    plan = preview_batch if dry_run else plan_batch
    extra = {"renderer": renderer, "settings": settings} if dry_run else {}
    if since < as_of - timedelta(days=3):
        log.warning("planning since %s: the last completed run was long ago", since.isoformat())
    for step, selection in pipeline.selections(PlanningWindow(as_of, since)):
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
                log.info("%s: %s", step.name, sentence(counts))
            add_tally(tally, step_tally)
    if not dry_run:
        advance_watermark(db, pipeline.name, as_of)
