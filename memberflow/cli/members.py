"""`memberflow member export | erase`: data-subject requests (access, erasure)."""

from typing import Annotated

import typer

from memberflow.cli._common import engine, fail
from memberflow.core import privacy

member_app = typer.Typer(
    rich_markup_mode=None, help="A member's data: export it, erase it.", no_args_is_help=True
)


@member_app.command("export")
def member_export(email: Annotated[str, typer.Argument(help="The member's email address.")]):
    """Print everything memberflow holds on the member, as JSON."""
    with engine().connect() as conn:
        found = privacy.export(conn, email)
    if not found:
        fail(f"no member with email {email!r}")
    print(privacy.to_json(found))


@member_app.command("erase")
def member_erase(
    email: Annotated[str, typer.Argument(help="The member's email address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
):
    """Remove the member's personal data and block any further message to them. Anonymous
    counts (what was sent, paid, canceled) stay for the analytics."""
    if not yes:
        typer.confirm(f"Erase the personal data of {email}? This cannot be undone", abort=True)
    with engine().begin() as conn:
        erased = privacy.erase(conn, email)
    if not erased:
        fail(f"no member with email {email!r}")
    print(f"erased {erased} member(s) with email {email}; no message will reach them again")
