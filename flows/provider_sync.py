"""The provider-sync flow: bring an existing business in from its provider, or catch it up,
from the Prefect UI; the same as `memberflow sync stripe`, with the summary as an artifact."""

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows._blocks import resolve_stripe_access
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from tasks.sync import publish_sync, sync_stripe


@flow(name="provider-sync")
def provider_sync(
    gateway: str = "",
    canceled_days: Annotated[int, Field(ge=0, le=3650)] = 180,
    dry_run: bool = False,
) -> list[dict]:
    """Lists every customer, subscription and default card at Stripe and writes them as the
    webhooks would have (docs/integrations.md, "Bringing an existing Stripe business in").

    Args:
        gateway: The saved Stripe Gateway Block (`memberflow-stripe-gateway/NAME`) whose key
            and API address it reads with (the key needs read access to customers, payment
            methods and subscriptions).
        canceled_days: Canceled subscriptions that ended this many days back are brought in too.
        dry_run: Count what would change; write nothing.
    """
    api_key, api_base = resolve_stripe_access(gateway)
    db = get_engine(get_settings().database_url)
    require_schema(db)
    summary = sync_stripe(db, api_key, api_base, canceled_days, dry_run)
    return publish_sync("stripe", summary, dry_run)
