"""The cancellation follow-up flow: record new cancellations, notice who came back, send what is
due. Run daily (it catches imports and missed events) and on each cancellation event."""

from datetime import datetime, timedelta
from typing import Annotated

from prefect import flow, get_run_logger
from pydantic import Field

from flows._blocks import resolve_gateway, resolve_output
from flows.pipeline import run_pipeline
from flows.runs import finished, open_run, run_name
from memberflow.core.settings import get_settings
from memberflow.pipelines.cancellations.pipeline import CancellationPipeline
from memberflow.pipelines.cancellations.steps import (
    DEFAULT_STEPS,
    PIPELINE,
    CancellationStep,
    Offer,
)
from tasks.cancellations import issue_offer_codes, record_cancellations, record_returns
from tasks.touchpoints import advance_watermark, planned_through


@flow(name="cancellation-follow-up", flow_run_name=run_name("cancellations", "minute"))
def cancellations(
    as_of: datetime | None = None,
    simulate: bool | None = None,
    steps: list[CancellationStep] = DEFAULT_STEPS,  # noqa: B006 (copied below, never mutated)
    product_steps: dict[str, list[CancellationStep]] | None = None,
    offers: dict[str, Offer] | None = None,
    offer_gateway: str = "",
    pause_urls: dict[str, str] | None = None,
    output: str = "",
    attribution_days: Annotated[int, Field(ge=1, le=365)] = 30,
    lookback_days: Annotated[int, Field(ge=0, le=60)] = 3,
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500,
    event: str = "",
    webhook_id: int = 0,
    subscription_id: int = 0,
) -> list[dict]:
    """Follows up every cancellation up to `as_of` (default: now), each message exactly once.

    Args:
        as_of: The moment the run acts for; earlier or later days can be replayed.
        simulate: Act for a moment ahead of the clock, on a database kept for simulations
            (empty: as the database is; see docs/architecture.md, "Time travel").
        steps: The follow-up steps for every product without its own list.
        product_steps: Whole replacement step lists for some products, by product external id.
        offers: A product's reason to come back, by product external id: one `code` for
            everyone, or a `coupon` the offer gateway turns into a code per member; steps
            with `offer` carry it.
        offer_gateway: A saved gateway Block (`type-slug/name`) that makes the per-member codes
            (Stripe: promotion codes); empty uses the sandbox.
        pause_urls: Where members of a product can pause instead of leaving, by product
            external id; the confirmation offers it while access lasts.
        output: A saved output Block as `type-slug/name`; empty writes .eml files to the outbox.
        attribution_days: A comeback this many days after a win-back message is credited to it.
        lookback_days: How far back the very first run looks for cancellations; later runs
            take everything since the last completed run, however long ago.
        batch_size: Cancellations or touchpoints per task run.
        event: The memberflow event that triggered the run, if any (shown in the logs): the
            first of a burst; the run follows up everything, not only that event's.
        webhook_id: The inbox row of that event (`memberflow ingress inbox`).
        subscription_id: The subscription that event was about (shown in the logs).
    """
    log, settings = get_run_logger(), get_settings()
    db, as_of = open_run(settings, as_of, simulate=simulate)
    if event:  # debounced (prefect.yaml): this run follows up everything learned since
        about = f" (webhook {webhook_id}, subscription {subscription_id})" if webhook_id else ""
        log.info("triggered by %s%s", event, about)
    pipeline = CancellationPipeline(steps=list(steps), product_steps=dict(product_steps or {}))
    sink = resolve_output(output, settings)
    back = record_returns(db, as_of=as_of, window=timedelta(days=attribution_days))
    credited = sum(1 for found in back if found["won_back_by"])
    since = planned_through(db, PIPELINE) or as_of - timedelta(days=lookback_days)
    recorded, planned = record_cancellations(
        db,
        as_of=as_of,
        since=since,
        steps_for=pipeline.steps_for,
        offers=dict(offers or {}),
        channel=sink.channel,
        pause_urls=dict(pause_urls or {}),
        batch_size=batch_size,
    )
    advance_watermark(db, PIPELINE, as_of)
    if any(offer.coupon for offer in (offers or {}).values()):
        gateway = resolve_gateway(offer_gateway)
        issued, waiting = issue_offer_codes(db, issue=gateway.create_offer_code)
        log.info("%s offer code(s) made, %s waiting for the gateway", issued, waiting)
    log.info(
        "%s cancellation(s) recorded (%s message(s) planned); %s member(s) back, %s won back",
        recorded,
        planned,
        len(back),
        credited,
    )
    rows = run_pipeline(
        pipeline, settings=settings, as_of=as_of, output=sink, batch_size=batch_size
    )
    return finished(rows, rows[-1])
