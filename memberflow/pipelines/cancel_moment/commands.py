"""`memberflow links cancel MEMBER`: a member's signed "manage or cancel" link, for the owner's
own member area (its "Cancel" button) or a support reply."""

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import select

from memberflow.core.db import get_engine, require_existing
from memberflow.core.links import link_secret, member_link
from memberflow.core.models import Member, Subscription
from memberflow.core.settings import get_settings
from memberflow.pipelines.cancel_moment.web import LINK_PURPOSE

links_app = typer.Typer(
    rich_markup_mode=None, help="Members' signed links, to give by hand.", no_args_is_help=True
)


@links_app.command("cancel")
def cancel_link(
    member: Annotated[str, typer.Argument(help="The member's external id (the provider's).")],
    subscription: Annotated[
        str | None, typer.Option(help="Which subscription (default: their latest running one).")
    ] = None,
) -> None:
    """Prints the member's "manage or cancel" page link (it works for
    MEMBERFLOW_LINK_LIFETIME_DAYS). Make them from your own site with the same signing:
    docs/cancel-page.md."""
    settings = get_settings()
    require_existing(settings.database_url)
    engine = get_engine(settings.database_url)
    with engine.begin() as conn:
        query = (
            select(Subscription.external_id)
            .join(Member, Member.id == Subscription.member_id)
            .where(Member.external_id == member)
            .order_by(Subscription.status == "canceled", Subscription.id.desc())
        )
        if subscription:
            query = query.where(Subscription.external_id == subscription)
        found = conn.execute(query).scalars().first()
        if found is None:
            what = f"subscription {subscription!r} of " if subscription else "a subscription of "
            typer.echo(f"memberflow links cancel: no {what}member {member!r}", err=True)
            raise typer.Exit(1)
        secret = link_secret(conn, settings)
    url = member_link(secret, settings, member, LINK_PURPOSE, datetime.now(UTC), {"s": found})
    typer.echo(url)
