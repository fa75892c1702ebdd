"""`memberflow sync <provider>`: bring an existing business in, through the ingress's own path."""

from datetime import UTC, datetime
from typing import Annotated

import typer

from memberflow.cli._common import engine, fail, print_table

sync_app = typer.Typer(
    rich_markup_mode=None,
    help="Bring an existing business in from its provider (members, cards, subscriptions).",
    no_args_is_help=True,
)
SHOWN = 20  # skipped objects listed by id; the rest counted


@sync_app.command("stripe")
def sync_stripe(
    api_key: Annotated[
        str,
        typer.Option(
            envvar="MEMBERFLOW_STRIPE_API_KEY",
            help="A Stripe secret or restricted key with read access to customers, payment "
            "methods and subscriptions.",
        ),
    ],
    api_base: Annotated[
        str | None, typer.Option(help="Another server speaking Stripe's API (a test double).")
    ] = None,
    canceled_days: Annotated[
        int, typer.Option(min=0, help="Canceled subscriptions ended this many days back, too.")
    ] = 180,
    dry_run: Annotated[bool, typer.Option(help="Say what would change; write nothing.")] = False,
) -> None:
    """Every Stripe customer, their default card and their subscriptions (canceled ones from
    the last --canceled-days, for the win-back and the analytics), written as the webhooks
    would have written them. Run it again at will: what is already known stays as it is, and
    what memberflow learned later from a webhook is not overwritten. It starts no flow run:
    the pipelines' next runs pick up what it wrote."""
    import stripe  # the official library, only for this command

    from memberflow.ingress.providers import stripe as provider
    from memberflow.sync import stripe as stripe_sync
    from memberflow.sync.apply import Summary, apply_listed

    read_at, summary = datetime.now(UTC), Summary()
    objects = stripe_sync.listed(
        stripe_sync.client(api_key, api_base),
        read_at=read_at,
        canceled_days=canceled_days,
        summary=summary,
    )
    try:
        apply_listed(
            engine(), provider.translate, objects, read_at=read_at, dry_run=dry_run, summary=summary
        )
    except stripe.AuthenticationError:
        fail("Stripe refused the key (MEMBERFLOW_STRIPE_API_KEY or --api-key): check it is whole")
    except stripe.PermissionError as error:
        fail(
            f"the key may not read everything a sync needs ({error.user_message}): give it "
            "read access to customers, payment methods and subscriptions"
        )
    except stripe.APIConnectionError as error:
        fail(
            f"cannot reach Stripe ({error.user_message}): each object written is whole; run "
            "it again, it changes nothing it already has"
        )
    print_table(summary.rows())
    for kind, object_id, why in summary.skipped[:SHOWN]:
        print(f"  skipped {kind} {object_id}: {why}")
    if len(summary.skipped) > SHOWN:
        print(f"  ... and {len(summary.skipped) - SHOWN} more skipped")
    if dry_run:
        print("dry run: nothing was written")
