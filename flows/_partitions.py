"""Delivery split into id ranges run side by side on a task runner: threads on one machine, or
Dask worker processes and machines (`pip install 'memberflow[dask]'`), chosen by settings.

Threads suit latency-bound sends (each batch already overlaps its sends); processes and
machines suit CPU-bound rendering at volume (docs/scaling.md). Claims are leases and on
PostgreSQL `SKIP LOCKED` keeps ranges apart, so partitions never send a message twice.
Task arguments must pickle for Dask: the database goes as its URL, the output as its saved
Block reference, never an Engine or a session.
"""

import os
from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows._blocks import resolve_output
from memberflow.core.db import get_engine
from memberflow.core.settings import Settings
from memberflow.messaging.claims import DeliveryOptions
from memberflow.messaging.delivery import deliver_due
from memberflow.messaging.protocols import Pipeline
from memberflow.messaging.registry import template_folders
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import Tally, add_tally

# On Python 3.11 a Dask worker deadlocks when its statistical profiler (`sys._current_frames()`
# every 10 ms) meets a garbage collection while many threads run (cpython#116969,
# dask/distributed#8616): a delivery partition runs up to `max_concurrency` sending threads, and
# froze for good after a few thousand messages. memberflow reads no Dask profiles.
WORKERS_WITHOUT_PROFILER = {"distributed.worker.profile.enabled": False}  # set over the defaults


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, task_run_name="deliver ids {after}+")
def deliver_range(
    pipeline: Pipeline,
    *,
    output: object,
    settings: Settings,
    as_of: datetime,
    batch_size: int,
    options: DeliveryOptions,
    after: int,
    until: int,
) -> Tally:
    """Every due touchpoint with an id in (after, until], batch by batch, in this worker."""
    db = get_engine(settings.database_url)
    # a reference is resolved here, in the worker: a Block's connections do not travel
    sink = resolve_output(output, settings) if isinstance(output, str) else output
    renderer = Renderer(template_folders(settings), settings.default_locale)
    try:
        return deliver_due(
            db,
            pipeline,
            renderer=renderer,
            output=sink,
            settings=settings,
            as_of=as_of,
            limit=batch_size,
            options=options,
            after_id=after,
            until_id=until,
        )
    finally:
        if sink is not output:  # its own; one shared with other partitions is the run's
            sink.close()


def task_runner(settings: Settings, workers: int):
    """The runner the setting names: a bounded thread pool (Prefect's has no limit unless
    given one), or Dask: the cluster at MEMBERFLOW_DASK_ADDRESS, else local worker processes."""
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RuntimeError(
            "MEMBERFLOW_TASK_RUNNER=dask needs the Dask extra: pip install 'memberflow[dask]'"
        ) from None
    from prefect.settings import PREFECT_API_URL

    # Dask's worker processes report to the same Prefect server as this run
    if PREFECT_API_URL.value():
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
    if settings.dask_address:  # its workers must run without the profiler (docs/scaling.md)
        return DaskTaskRunner(address=settings.dask_address)
    cluster = {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": True,
        "config": WORKERS_WITHOUT_PROFILER,
    }
    return DaskTaskRunner(cluster_kwargs=cluster)


@flow(name="deliver-partitions", flow_run_name="deliver {pipeline.name} in parts")
def deliver_partitions(
    pipeline: Pipeline,
    *,
    ranges: list[tuple[int, int]],
    output: object,
    settings: Settings,
    as_of: datetime,
    batch_size: int,
    options: DeliveryOptions,
) -> Tally:
    """One task per id range, on the flow's task runner; their tallies added up."""
    futures = [
        deliver_range.submit(
            pipeline,
            output=output,
            settings=settings,
            as_of=as_of,
            batch_size=batch_size,
            options=options,
            after=after,
            until=until,
        )
        for after, until in ranges
    ]
    tally: Tally = {}
    for future in futures:
        add_tally(tally, future.result())
    return tally


def run_partitions(pipeline: Pipeline, **kwargs) -> Tally:
    settings: Settings = kwargs["settings"]
    runner = task_runner(settings, len(kwargs["ranges"]))
    return deliver_partitions.with_options(task_runner=runner)(pipeline, **kwargs)
