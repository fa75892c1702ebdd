"""`memberflow cases`: dunning's own command group (registered in `registration.commands`)."""

from typing import Annotated

import typer

from memberflow.core.console import fail, print_table
from memberflow.core.db import get_engine
from memberflow.core.dunning_models import CaseStatus
from memberflow.core.settings import get_settings
from memberflow.pipelines.dunning import queries


def _engine():
    return get_engine(get_settings().database_url)


cases_app = typer.Typer(rich_markup_mode=None, help="Dunning cases: list them, resume paused ones.")


@cases_app.callback(invoke_without_command=True)
def cases_list(
    context: typer.Context,
    status: Annotated[
        list[CaseStatus] | None, typer.Option(help="open, paused or closed; repeat for several.")
    ] = None,
) -> None:
    """One line per dunning case: its decline, retries, emails, escalation and outcome."""
    if context.invoked_subcommand is not None:
        return
    rows = queries.list_cases(_engine(), [s.value for s in status or ()])
    for row in rows:
        for name in ("opened_at", "next_retry_at", "escalated_at"):
            row[name] = row[name].isoformat(timespec="minutes") if row[name] else None
    print_table(rows)


@cases_app.command("resume")
def cases_resume(
    invoices: Annotated[list[str] | None, typer.Argument(help="Invoice external ids.")] = None,
    all_paused: Annotated[bool, typer.Option("--all", help="Every paused case.")] = False,
) -> None:
    """Reopen cases paused by a gateway error, once the gateway is fixed."""
    if not invoices and not all_paused:
        fail("name the invoices to resume, or pass --all")
    resumed = queries.resume(_engine(), None if all_paused else invoices)
    print(f"{resumed} case(s) resumed; the next dunning run retries them")
