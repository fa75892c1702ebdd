"""`memberflow sync <provider>`: bring an existing business in, through the ingress's own path."""

from typing import Annotated

import typer

from memberflow.cli._common import engine, fail, print_table
from memberflow.core.console import Ticker
from memberflow.sync import checkpoint
from memberflow.sync.apply import Summary

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
    restart: Annotated[
        bool, typer.Option(help="Start from the beginning, not where a cut sync stopped.")
    ] = False,
    requests_per_second: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Read at most this fast (default: 80% of Stripe's limit, 100/s live, 25/s in "
            "test mode).",
        ),
    ] = None,
) -> None:
    """Every Stripe customer, their default card and their subscriptions (canceled ones from
    the last --canceled-days, for the win-back and the analytics), written as the webhooks
    would have written them. Run it again at will: what is already known stays as it is, and
    what memberflow learned later from a webhook is not overwritten. A sync cut short (a
    network error, Stripe's rate limit, Ctrl-C) resumes where it stopped. It starts no flow
    run: the pipelines' next runs pick up what it wrote."""
    from memberflow.sync import stripe as stripe_sync  # the official library: this command's

    db = engine()
    if restart:
        checkpoint.forget(db, "stripe")
    _say_resumed(db, "stripe", dry_run)
    client = stripe_sync.client(api_key, api_base, requests_per_second)
    ticker = Ticker("synced from Stripe")

    def progress(summary: Summary) -> None:
        ticker.update(summary.total, f"({summary.sentence()})")

    try:
        summary = stripe_sync.sync(
            db, client, canceled_days=canceled_days, dry_run=dry_run, progress=progress
        )
    except stripe_sync.SyncStopped as stopped:
        fail(f"memberflow sync stripe: {stopped}")
    except KeyboardInterrupt:
        fail("memberflow sync stripe: stopped; each object written is whole: run it again")
    ticker.done(summary.total, f"({summary.sentence()})")
    print_table(summary.rows())
    for kind, object_id, why in summary.skipped[:SHOWN]:
        print(f"  skipped {kind} {object_id}: {why}")
    if len(summary.skipped) > SHOWN:
        print(f"  ... and {len(summary.skipped) - SHOWN} more skipped")
    for kind, object_id, what in summary.noted[:SHOWN]:
        print(f"  note: {kind} {object_id}: {what}")
    if len(summary.noted) > SHOWN:
        print(f"  ... and {len(summary.noted) - SHOWN} more notes")
    if dry_run:
        print("dry run: nothing was written")


def _say_resumed(db, provider: str, dry_run: bool) -> None:
    resume = checkpoint.unfinished(db, provider)
    if resume is None:
        return
    if dry_run:
        print(f"(a {provider} sync cut on {resume.started_at:%Y-%m-%d %H:%M} waits to resume)")
        return
    print(
        f"resuming the {provider} sync started {resume.started_at:%Y-%m-%d %H:%M} UTC: "
        f"{resume.phase} after {resume.after} ({resume.summary.total:,} done; --restart to "
        "start over)"
    )


reconcile_app = typer.Typer(
    rich_markup_mode=None,
    help="Catch up on webhooks the provider could not deliver.",
    no_args_is_help=True,
)


@reconcile_app.command("stripe")
def reconcile_stripe(
    api_key: Annotated[
        str,
        typer.Option(
            envvar="MEMBERFLOW_STRIPE_API_KEY", help="A Stripe key with read access to events."
        ),
    ],
    api_base: Annotated[
        str | None, typer.Option(help="Another server speaking Stripe's API (a test double).")
    ] = None,
) -> None:
    """Lists Stripe's events (it keeps 30 days) since a while before the newest one memberflow
    has, and applies each the inbox lacks, as its webhook would have been (marked `reconcile`
    in `memberflow ingress inbox`). Exit code 2 when some were missing: lost webhooks are an
    incident (why was the endpoint down?), even once caught up."""
    from memberflow.sync import stripe as stripe_sync
    from memberflow.sync.reconcile import reconcile_stripe as reconcile

    try:
        done = reconcile(engine(), stripe_sync.client(api_key, api_base))
    except stripe_sync.STOPPING as error:
        fail(f"memberflow reconcile stripe: {stripe_sync.stopped(error)}")
    print(f"{done.listed} Stripe event(s) since {done.since:%Y-%m-%d %H:%M} UTC listed")
    if not done.missing:
        print("none was missing")
        return
    print_table(done.rows())
    print(f"applied now: {dict(done.outcomes)}")
    raise typer.Exit(2)
