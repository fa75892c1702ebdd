"""Provider sync's tasks: the sync itself (one task: its pages stream through one process), and
its summary as artifacts."""

from collections.abc import Callable
from datetime import UTC, datetime

from prefect.artifacts import create_table_artifact
from sqlalchemy import Engine

from memberflow.sync import reconcile
from memberflow.sync import stripe as stripe_sync
from memberflow.sync.listed import Summary
from memberflow.sync.reconcile import Reconciled
from tasks import batch_task

SKIPPED_SHOWN = 500  # by id; the rest counted in the summary


@batch_task(retries=0)  # a rerun resumes, but a key a provider refuses will not mend in 5 s
def sync_provider(db: Engine, run: Callable[..., Summary], dry_run: bool) -> Summary:
    """A provider's sync (`flows/_blocks.resolve_sync`), resuming a cut one."""
    return run(db, dry_run=dry_run)


@batch_task(retries=0)
def reconcile_stripe(db: Engine, api_key: str, api_base: str) -> Reconciled:
    return reconcile.reconcile_stripe(db, stripe_sync.client(api_key, api_base))


@batch_task(retries=0)
def reconcile_by_comparison(db: Engine, run: Callable[..., Summary]) -> Reconciled:
    """A provider without an event list: a sync, whose differences are what was missed."""
    return reconcile.by_comparison(run(db, dry_run=False), datetime.now(UTC))


@batch_task
def publish_reconciled(provider: str, done: Reconciled) -> list[dict]:
    rows = done.rows() or [{"event type": "none missing", "missing": 0}]
    if provider == "stripe":
        description = (
            f"{done.listed} {provider} event(s) since {done.since:%Y-%m-%d %H:%M} UTC; those "
            "the inbox lacked, now applied (marked reconcile)"
        )
    else:
        description = (
            f"{done.listed} {provider} object(s) compared with memberflow's (it lists no "
            "events); those that differed, now applied"
        )
    create_table_artifact(rows, key=f"{provider}-reconcile", description=description)
    return rows


@batch_task
def publish_sync(provider: str, summary: Summary, dry_run: bool) -> list[dict]:
    rows = summary.rows() or [{"kind": "nothing listed"}]
    kind = "Dry run (nothing written)" if dry_run else "Sync"
    create_table_artifact(rows, key=f"{provider}-sync", description=f"{kind} from {provider}")
    told = [("skipped", *row) for row in summary.skipped]
    told += [("noted", *row) for row in summary.noted]
    if told:
        rows_told = [
            {"": what, "kind": kind, "id": object_id, "why": why}
            for what, kind, object_id, why in told[:SKIPPED_SHOWN]
        ]
        description = "What the sync left out, and what ops should know"
        create_table_artifact(rows_told, key=f"{provider}-sync-skipped", description=description)
    return rows
