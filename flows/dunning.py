"""The dunning flow: open cases for failed invoices, advance each (retry, notice, escalate,
final action), then deliver what that planned to members and to ops."""

from datetime import datetime
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from blocks.outputs.base import Output
from blocks.outputs.file import FileOutput
from flows._blocks import resolve_gateway, resolve_output
from flows.pipeline import run_pipeline
from flows.runs import finished, open_run, run_name
from memberflow.core.settings import Settings, get_settings
from memberflow.pipelines.dunning.advance import Advance, Channels
from memberflow.pipelines.dunning.notices import NoticePipeline
from memberflow.pipelines.dunning.policy import DunningPolicy
from memberflow.pipelines.dunning.queries import open_invoice_ids, why_no_case
from tasks import cursor_loop
from tasks.artifacts import with_progress
from tasks.dunning import advance_batch, announce_closed, count_open, open_cases, publish_cases


def resolve_ops_output(reference: str, settings: Settings) -> Output:
    """Where tickets and alerts go: a saved output Block, else .eml files in outbox/ops."""
    if reference:
        return resolve_output(reference, settings)
    return FileOutput(
        directory=str(settings.outbox_dir / "ops"), from_address=settings.from_address
    )


def _chosen_invoices(db, invoice_id: int, subscription_id: int, member_id: int) -> list[int] | None:
    """A triggered run's invoices: the one that failed, or those a new card may settle.
    None (a scheduled run) means every open case."""
    if invoice_id:
        return [invoice_id]
    if subscription_id or member_id:
        return open_invoice_ids(db, subscription_id=subscription_id, member_id=member_id)
    return None


@flow(name="dunning", flow_run_name=run_name("dunning", "minute"))
def dunning(
    as_of: datetime | None = None,
    simulate: bool | None = None,
    policy: DunningPolicy = DunningPolicy(),  # noqa: B008 (a frozen default, never mutated)
    gateway: str = "",
    output: str = "",
    ops_output: str = "",
    invoice_id: int = 0,
    subscription_id: int = 0,
    member_id: int = 0,
    event: str = "",
    webhook_id: int = 0,
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500,
) -> dict:
    """Advances every open dunning case at `as_of` (default: now), or one subscription's.

    Args:
        as_of: The moment the run acts for; earlier or later days can be replayed.
        simulate: Act for a moment ahead of the clock, on a database kept for simulations
            (empty: as the database is; see docs/architecture.md, "Time travel").
        policy: Retry days, notices, caps, escalation and final actions (see docs/dunning.md).
        gateway: A saved payment gateway Block as `type-slug/name`; empty uses the sandbox.
        output: Where member emails go: an output Block; empty writes .eml files.
        ops_output: Where tickets and alerts go (Zapier, a webhook...); empty writes .eml files.
        invoice_id: Only this invoice (a payment-failed event's), opening its case if needed.
        subscription_id: Only this subscription's open cases (a card-updated event's).
        member_id: Only this member's open cases (a card-updated event without a subscription).
        event: The memberflow event that triggered the run, if any (shown in the logs): the
            first of a burst; the run does everything pending, not only that event's.
        webhook_id: The inbox row of that event (`memberflow ingress inbox`).
        batch_size: Cases per task run.
    """
    log, settings = get_run_logger(), get_settings()
    db, as_of = open_run(settings, as_of, simulate=simulate)
    if event:  # debounced (prefect.yaml): this run does every case, whatever came since
        log.info("triggered by %s%s", event, f" (webhook {webhook_id})" if webhook_id else "")
    only = _chosen_invoices(db, invoice_id, subscription_id, member_id)
    pay, member_out = resolve_gateway(gateway), resolve_output(output, settings)
    ops_out = resolve_ops_output(ops_output, settings)
    channels = Channels(member=member_out.channel, ops=ops_out.channel)

    opened = open_cases(db, as_of=as_of, policy=policy, invoice_ids=only)
    total = count_open(db, only)
    log.info("%s case(s) opened, %s open to advance", opened, total)
    if invoice_id and total == 0:  # the event's own invoice: say why there is nothing to do
        log.info(
            "nothing to do: %s", why_no_case(db, invoice_id=invoice_id, as_of=as_of, policy=policy)
        )
    advance = Advance()
    batches = cursor_loop(
        0,
        lambda after: advance_batch(
            db,
            policy=policy,
            gateway=pay,
            as_of=as_of,
            after_id=after,
            limit=batch_size,
            channels=channels,
            invoice_ids=only,
        ),
    )
    for batch, done in with_progress(
        "dunning-cases", total, batches, lambda b: b.counts["advanced"]
    ):
        advance.add(batch)
        log.info("advanced %s of %s: %s", done, total, dict(batch.counts))
    advance.counts["opened"] += opened
    emails = run_pipeline(NoticePipeline(), settings=settings, as_of=as_of, output=member_out)
    tickets = run_pipeline(
        NoticePipeline(for_ops=True), settings=settings, as_of=as_of, output=ops_out
    )
    advance.counts["announced"] += announce_closed(db)
    summary = publish_cases(advance, as_of, emails=emails[-1], tickets=tickets[-1])
    return finished(summary, emails[-1], tickets[-1])
