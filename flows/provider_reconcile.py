"""The provider-reconcile flow: daily, apply the provider's events whose webhooks never came,
and say so loudly (a lost webhook is an incident, not a silent fix)."""

from prefect import flow
from prefect.states import Completed, State

from flows._blocks import resolve_stripe_access
from flows.runs import WITH_FAILURES
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from tasks.sync import publish_reconciled, reconcile_stripe


@flow(name="provider-reconcile")
def provider_reconcile(gateway: str = "") -> list[dict] | State:
    """Lists Stripe's events since a while before the newest one memberflow has and applies
    those the inbox lacks, through the ingress's own path (docs/integrations.md, "After an
    outage"). Ends `Completed with failures` when any were missing, so the failure
    notification (`memberflow server notify-on-failure`) tells ops.

    Args:
        gateway: The saved Stripe Gateway Block (`memberflow-stripe-gateway/NAME`) whose key
            and API address it reads events with.
    """
    api_key, api_base = resolve_stripe_access(gateway)
    db = get_engine(get_settings().database_url)
    require_schema(db)
    done = reconcile_stripe(db, api_key, api_base)
    rows = publish_reconciled("stripe", done)
    if not done.missing:
        return rows
    lost = ", ".join(f"{n} {kind}" for kind, n in done.missing.most_common())
    return Completed(
        name=WITH_FAILURES,
        message=(
            f"{sum(done.missing.values())} Stripe webhook(s) never arrived and are applied now "
            f"({lost}): was the ingress down, or its secret wrong? See the stripe-reconcile "
            "artifact and memberflow ingress inbox"
        ),
        data=rows,
    )
