"""`memberflow visits`: what the front desk (or its check-in system) tells the pipeline."""

from datetime import UTC, datetime
from typing import Annotated

import typer

from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from visit_thanks.visits import UnknownSubscription, record_visit

app = typer.Typer(rich_markup_mode=None, help="Members' visits.", no_args_is_help=True)


@app.command("record")
def record(
    subscription: Annotated[str, typer.Argument(help="The provider's subscription id.")],
    at: Annotated[datetime | None, typer.Option(help="When (default: now).")] = None,
) -> None:
    """Record a visit: the member gets a thank-you the next day."""
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:  # typer parses a naive time: the CLI's times are UTC
        moment = moment.replace(tzinfo=UTC)
    try:
        with get_engine(get_settings().database_url).begin() as conn:
            record_visit(conn, subscription, moment)
    except UnknownSubscription as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"visit of {subscription} recorded")
