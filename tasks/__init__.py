"""Prefect tasks: thin wrappers that do one batch of I/O each, over the core's functions.

`batch_task` is the one retry policy: every batch function is idempotent, so a failed batch is
retried; their inputs are engines, blocks and pipelines, so there is nothing to hash for a cache.
"""

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

batch_task = partial(task, cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
