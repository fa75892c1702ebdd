"""The provider-reconcile flow: daily, apply the provider's events whose webhooks never came,
and say so loudly (a lost webhook is an incident, not a silent fix)."""

from typing import Literal

from prefect import flow
from prefect.states import Completed, State

from flows._blocks import resolve_stripe_access, resolve_sync
from flows.runs import WITH_FAILURES
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from tasks.sync import publish_reconciled, reconcile_by_comparison, reconcile_stripe


@flow(name="provider-reconcile")
def provider_reconcile(
    provider: Literal["stripe", "memberpress", "membermouse"] = "stripe", gateway: str = ""
) -> list[dict] | State:
    """Catches up on lost webhooks (docs/integrations.md, "After an outage"): Stripe's events
    since a while before the newest one memberflow has, those the inbox lacks applied through
    the ingress's own path; MemberPress and MemberMouse list no events, so their objects are
    compared with memberflow's and the differences applied. Ends `Completed with failures`
    when anything was missing, so the failure notification (`memberflow server
    notify-on-failure`) tells ops.

    Args:
        provider: Whose webhooks to catch up on (MemberPress's and MemberMouse's API access
            from the worker's environment, as for provider-sync).
        gateway: For Stripe: the saved Stripe Gateway Block (`memberflow-stripe-gateway/NAME`)
            whose key and API address it reads events with.
    """
    settings = get_settings()
    db = get_engine(settings.database_url)
    if provider == "stripe":
        api_key, api_base = resolve_stripe_access(gateway)
        require_schema(db)
        done = reconcile_stripe(db, api_key, api_base)
    else:
        run = resolve_sync(provider, gateway, settings)
        require_schema(db)
        done = reconcile_by_comparison(db, run)
    rows = publish_reconciled(provider, done)
    if not done.missing:
        return rows
    lost = ", ".join(f"{n} {kind}" for kind, n in done.missing.most_common())
    return Completed(
        name=WITH_FAILURES,
        message=(
            f"{sum(done.missing.values())} {provider} webhook(s) never arrived; what they "
            f"said is applied now ({lost}): was the ingress down, or its secret wrong? See the "
            f"{provider}-reconcile artifact and memberflow ingress inbox"
        ),
        data=rows,
    )
