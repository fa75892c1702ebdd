"""Run summaries as Prefect artifacts: a table per run, a progress bar during delivery."""

from uuid import UUID

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from memberflow.engine import Tally

OUTCOMES = ("planned", "sent", "skipped", "expired", "failed", "dead")


def summary_rows(tally: Tally) -> list[dict]:
    """One row per step with every outcome counted (zeros included), plus a total row.

    A dry run's own outcomes (would_send, would_expire, render_failed) follow the usual ones.
    """
    seen = {outcome for counts in tally.values() for outcome in counts}
    columns = [*OUTCOMES, *sorted(seen - set(OUTCOMES))]
    rows = [
        {"step": step, **{o: counts.get(o, 0) for o in columns}} for step, counts in tally.items()
    ]
    total = {"step": "total", **{o: sum(row[o] for row in rows) for o in columns}}
    return [*sorted(rows, key=lambda row: row["step"]), total]


def publish_summary(pipeline: str, tally: Tally, description: str) -> list[dict]:
    rows = summary_rows(tally)
    create_table_artifact(rows, key=f"{pipeline}-summary", description=description)
    return rows


def start_progress(pipeline: str, total: int) -> UUID:
    return create_progress_artifact(0.0, key=f"{pipeline}-delivery", description=f"{total} due")


def update_progress(artifact_id: UUID, done: int, total: int) -> None:
    update_progress_artifact(artifact_id, 100.0 * done / total if total else 100.0)
