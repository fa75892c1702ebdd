"""The cancel-moment flow: carry out at the provider what members decided on the cancel page,
and fail loudly when a decision waits longer than allowed."""

from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.states import Failed, State

from flows._blocks import resolve_gateway
from flows.pipeline import run_pipeline
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from memberflow.pipelines.cancel_moment.tickets import TicketPipeline
from tasks.cancel_moment import carry_out_decisions, publish_decisions


@flow(name="cancel-moment")
def cancel_moment(
    as_of: datetime | None = None, output: str = "", gateway: str = ""
) -> list[dict] | State:
    """Carries out every decision recorded on the cancel page (cancel at period end, pause,
    switch, discount) through the gateway, once each, and sends ops a ticket for each member
    who asked for a person (docs/cancel-page.md). A decision not carried out within
    MEMBERFLOW_CANCEL_CARRY_OUT_HOURS fails the run, so the failure notification tells ops;
    what a person must do by hand is in the cancel-page-decisions artifact.

    Args:
        as_of: The run's moment (default: now).
        output: The ops output Block the tickets go to (`type-slug/name`); .eml files when
            empty. The member's own confirmation comes from the cancellation pipeline, once the
            provider's webhook confirms.
        gateway: The saved gateway Block (`memberflow-stripe-gateway/NAME`); the sandbox when
            empty.
    """
    settings = get_settings()
    db = get_engine(settings.database_url)
    require_schema(db)
    now = as_of or datetime.now(UTC)
    within = timedelta(hours=settings.cancel_carry_out_hours)
    carried = carry_out_decisions(db, resolve_gateway(gateway), now, within)
    rows = publish_decisions(carried)
    run_pipeline(TicketPipeline(), settings=settings, as_of=now, output=output)
    if carried.overdue:
        late = ", ".join(f"{row['decision']} {row['subscription']}" for row in carried.overdue)
        return Failed(
            message=f"{len(carried.overdue)} cancel-page decision(s) not carried out within "
            f"{settings.cancel_carry_out_hours} h ({late}): see the cancel-page-decisions "
            "artifact; the gateway's answer is on each decision",
            data=rows,
        )
    return rows
