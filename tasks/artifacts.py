"""Run summaries as Prefect artifacts: a table per run, a progress bar during delivery (and
on the terminal when the command line asks for one)."""

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from memberflow.core.console import Progress
from memberflow.messaging.tally import DEAD_LETTERS, Tally, steps_of

T = TypeVar("T")

# not_tried: left pending because the output was failing (the next run sends them)
OUTCOMES = (
    "planned",
    "sent",
    "skipped",
    "held_out",
    "expired",
    "held",
    "failed",
    "dead",
    "not_tried",
)
DRY_RUN_OUTCOMES = ("would_send", "would_expire", "render_failed")


def artifact_key(pipeline: str, what: str) -> str:
    """`<pipeline>-<what>` as Prefect allows a key (lowercase letters, digits and dashes): a
    pipeline named like its package (`cancel_moment`) gets `cancel-moment-summary`."""
    return f"{pipeline.replace('_', '-').lower()}-{what}"


def summary_rows(tally: Tally, outcomes: tuple[str, ...] = OUTCOMES) -> list[dict]:
    """One row per step with every outcome counted (zeros included), plus a total row."""
    rows = [
        {"step": step, **{o: counts.get(o, 0) for o in outcomes}}
        for step, counts in steps_of(tally).items()
    ]
    total = {"step": "total", **{o: sum(row[o] for row in rows) for o in outcomes}}
    return [*sorted(rows, key=lambda row: natural_order(row["step"])), total]


def natural_order(name: str) -> list:
    """`nps_30d` before `nps_180d` before `nps_365d`: numbers in a name compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def publish_summary(pipeline: str, tally: Tally, as_of: datetime, dry_run: bool) -> list[dict]:
    rows = summary_rows(tally, DRY_RUN_OUTCOMES if dry_run else OUTCOMES)
    kind = "Dry run" if dry_run else "Run"
    description = f"{kind} of {pipeline} at {as_of.isoformat()}"
    create_table_artifact(rows, key=artifact_key(pipeline, "summary"), description=description)
    publish_dead_letters(pipeline, tally)
    return rows


DEAD_LETTERS_SHOWN = 500  # the rest are in `memberflow touchpoints --status dead`


def publish_dead_letters(pipeline: str, tally: Tally) -> None:
    """The messages that went dead in this run, each with the answer that killed it: what ops
    fix before `memberflow requeue` (a table artifact, only when there are some)."""
    letters = list(tally.get(DEAD_LETTERS, Counter()))
    if not letters:
        return
    rows = [dict(zip(("key", "why"), letter.split(": ", 1), strict=True)) for letter in letters]
    description = (
        f"{len(rows)} message(s) of {pipeline} went dead in this run. Fix what each says, then "
        "send them again: memberflow requeue KEY... (or --pipeline). All of them: memberflow "
        "touchpoints --status dead"
    )
    create_table_artifact(
        rows[:DEAD_LETTERS_SHOWN],
        key=artifact_key(pipeline, "dead-letters"),
        description=description,
    )


def start_progress(pipeline: str, total: int) -> UUID:
    return create_progress_artifact(
        0.0, key=artifact_key(pipeline, "delivery"), description=f"{total} due"
    )


def update_progress(artifact_id: UUID, done: int, total: int) -> None:
    update_progress_artifact(artifact_id, 100.0 * done / total if total else 100.0)


PROGRESS_EVERY = 3.0  # seconds between updates of a run's progress artifact
TERMINAL_PROGRESS = "MEMBERFLOW_TERMINAL_PROGRESS"  # set by `memberflow run` and `demo`


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


def sentence(counts: Counter) -> str:
    """`Counter(sent=498, failed=2)` as "498 sent, 2 failed"."""
    return ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in counts.items() if n)
