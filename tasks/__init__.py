"""Prefect tasks: thin wrappers that do one batch of I/O each, over the core's functions.

`batch_task` is the one retry policy: every batch function is idempotent, so a failed batch is
retried; their inputs are engines, blocks and pipelines, so there is nothing to hash for a cache.
"""

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

batch_task = partial(task, cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)


def _cursor(value) -> str:
    """A batch's starting point as people read it: a time, a day, or a row id."""
    if isinstance(value, tuple):  # (anchor value, subscription id)
        value = value[0]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def plan_run_name() -> str:
    from prefect.runtime import task_run

    params = task_run.parameters
    return f"plan {params['step'].name} from {_cursor(params['after'])}"


def deliver_run_name() -> str:
    from prefect.runtime import task_run

    params = task_run.parameters
    start = params["after_id"]
    return f"deliver {params['pipeline'].name} #{start + 1 if start else 1}+ ({params['limit']})"


def cursor_loop(start: Any, run_batch: Callable[[Any], tuple[Any, dict]]) -> Iterator[dict]:
    """Calls `run_batch(cursor)` from `start`, batch after batch, until it returns no cursor."""
    cursor = start
    while cursor is not None:
        cursor, tally = run_batch(cursor)
        yield tally
