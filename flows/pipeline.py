"""`run_pipeline`, the composition every touchpoint pipeline's flow calls: a run (its
database, moment, output and renderer; its summary and failures when done: `flows/runs.py`),
its planning stage (`flows/_planning.py`) and its delivery stage (`flows/_delivering.py`).
Public to plug-ins through `memberflow.plugin`."""

from datetime import datetime

from blocks.outputs.base import Output
from flows._delivering import deliver_all
from flows._planning import plan_all
from flows.runs import pipeline_run
from memberflow.core.settings import Settings
from memberflow.messaging.delivery import Enricher
from memberflow.messaging.protocols import DatePlanner, Pipeline


def run_pipeline(
    pipeline: Pipeline,
    *,
    settings: Settings,
    as_of: datetime | None,
    simulate: bool | None = None,
    output: str | Output = "",
    batch_size: int = 500,
    lookback_days: int = 3,
    dry_run: bool = False,
    enrich: Enricher | None = None,
) -> list[dict]:
    """One run of a pipeline at `as_of`; returns the summary rows (also a table artifact).

    A `DatePlanner` is planned first, for every touchpoint due since its last completed
    planning pass (its watermark; `lookback_days` on the very first run), however long ago.
    Then every due touchpoint of the pipeline is delivered, whoever planned it. `simulate`:
    act for a moment ahead of the clock, on a database kept for simulations (None: as the
    database is; memberflow.core.clock).
    """
    with pipeline_run(pipeline, settings, as_of, output, dry_run, simulate) as run:
        if isinstance(pipeline, DatePlanner):
            plan_all(run, batch_size, lookback_days)
        if not dry_run:
            deliver_all(run, batch_size, enrich)
    return run.rows
