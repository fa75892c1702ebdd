"""`memberflow member show | export | erase`: a member's subscriptions and their history, and
data-subject requests (access, erasure)."""

from typing import Annotated

import typer

from memberflow.cli._common import engine, fail, print_table
from memberflow.core import privacy

member_app = typer.Typer(
    rich_markup_mode=None,
    help="A member's data: show it with its history, export it, erase it.",
    no_args_is_help=True,
)


@member_app.command("show")
def member_show(email: Annotated[str, typer.Argument(help="The member's email address.")]):
    """Each subscription of the member as memberflow holds it now, and its lifecycle history:
    every cancellation and reactivation learned, when it happened, when memberflow learned it
    and from where (a provider's event, memberflow's own action, an import)."""
    from sqlalchemy import select

    from memberflow.core import lifecycle
    from memberflow.core.models import Member, Subscription

    sub, member = Subscription.__table__, Member.__table__
    with engine().connect() as conn:
        subs = conn.execute(
            select(
                sub.c.id, sub.c.external_id, sub.c.status, sub.c.canceled_at, sub.c.cancel_reason
            )
            .join(member, member.c.id == sub.c.member_id)
            .where(member.c.email == email)
            .order_by(sub.c.id)
        ).all()
        if not subs:
            fail(f"no member with email {email!r}")
        for sub in subs:
            print(f"subscription {sub.external_id}: {sub.status}", end="")
            if sub.canceled_at:
                print(
                    f", canceled {sub.canceled_at:%Y-%m-%d %H:%M} UTC ({sub.cancel_reason})", end=""
                )
            print()
            facts = lifecycle.history(conn, sub.id)
            print_table(
                [
                    {
                        "learned": fact.seq,
                        "what": fact.kind,
                        "happened": f"{fact.occurred_at:%Y-%m-%d %H:%M}",
                        "from": fact.source,
                        "reason": fact.reason or "",
                        "feedback": fact.feedback or "",
                    }
                    for fact in sorted(facts, key=lambda f: (f.occurred_at, f.seq))
                ]
            )
            print()


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
