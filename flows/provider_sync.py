"""The provider-sync flow: bring an existing business in from its provider, or catch it up,
from the Prefect UI; the same as `memberflow sync <provider>`, with the summary as an
artifact."""

from typing import Annotated, Literal

from prefect import flow
from pydantic import Field

from flows._blocks import resolve_sync
from memberflow.core.db import get_engine, require_schema
from memberflow.core.settings import get_settings
from tasks.sync import publish_sync, sync_provider


@flow(name="provider-sync")
def provider_sync(
    provider: Literal["stripe", "memberpress", "membermouse"] = "stripe",
    gateway: str = "",
    canceled_days: Annotated[int, Field(ge=0, le=3650)] = 180,
    dry_run: bool = False,
) -> list[dict]:
    """Lists the provider's members and subscriptions and writes them as the webhooks would
    have (docs/integrations.md, "Bringing an existing business in"). A sync cut short resumes
    where it stopped.

    Args:
        provider: Whose API to read. MemberPress's and MemberMouse's addresses and keys come
            from the worker's environment (MEMBERFLOW_MEMBERPRESS_URL, ..._API_KEY;
            MEMBERFLOW_MEMBERMOUSE_API_URL, ..._API_KEY, ..._API_SECRET).
        gateway: For Stripe: the saved Stripe Gateway Block (`memberflow-stripe-gateway/NAME`)
            whose key and API address it reads with (the key needs read access to customers,
            payment methods, products and subscriptions).
        canceled_days: For Stripe: canceled subscriptions that ended this many days back are
            brought in too.
        dry_run: Count what would change; write nothing.
    """
    settings = get_settings()
    run = resolve_sync(provider, gateway, settings, canceled_days)
    db = get_engine(settings.database_url)
    require_schema(db)
    summary = sync_provider(db, run, dry_run)
    return publish_sync(provider, summary, dry_run)
