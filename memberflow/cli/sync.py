"""`memberflow sync <provider>`: bring an existing business in, through the ingress's own path."""

from collections.abc import Callable
from functools import partial
from typing import Annotated

import typer

from memberflow.cli._common import engine, fail, print_table
from memberflow.core.console import Ticker
from memberflow.core.settings import get_settings
from memberflow.sync import checkpoint
from memberflow.sync import membermouse as membermouse_sync
from memberflow.sync import memberpress as memberpress_sync
from memberflow.sync.listed import Summary
from memberflow.sync.pacing import Pace

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

    client = stripe_sync.client(api_key, api_base, requests_per_second)
    run = partial(stripe_sync.sync, stripe_client=client, canceled_days=canceled_days)
    _run_sync("stripe", "Stripe", run, dry_run, restart, stopping=stripe_sync.SyncStopped)


@sync_app.command("memberpress")
def sync_memberpress(
    site: Annotated[
        str,
        typer.Option(envvar="MEMBERFLOW_MEMBERPRESS_URL", help="The site: https://example.com"),
    ],
    api_key: Annotated[
        str,
        typer.Option(
            envvar="MEMBERFLOW_MEMBERPRESS_API_KEY",
            help="MemberPress > Developer > REST API key (an administrator's).",
        ),
    ],
    dry_run: Annotated[bool, typer.Option(help="Say what would change; write nothing.")] = False,
    restart: Annotated[
        bool, typer.Option(help="Start from the beginning, not where a cut sync stopped.")
    ] = False,
    requests_per_second: Annotated[
        float, typer.Option(min=0.1, help="Read at most this fast (WordPress is no API farm).")
    ] = memberpress_sync.REQUESTS_PER_SECOND,
) -> None:
    """Every MemberPress member and subscription (each still running with its latest payment:
    its paid-through date, or the failed payment dunning is for), through MemberPress's
    Developer Tools REST API, written as its webhooks would have written them. Run it again at
    will; a cut sync resumes where it stopped. Amounts are in MEMBERFLOW_CURRENCY."""
    target = memberpress_sync.Site(site, api_key, Pace(requests_per_second))
    currency = get_settings().currency
    run = partial(memberpress_sync.sync, site=target, currency=currency)
    _run_sync("memberpress", "MemberPress", run, dry_run, restart, memberpress_sync.SyncStopped)


MEMBERMOUSE_URL = typer.Option(
    envvar="MEMBERFLOW_MEMBERMOUSE_API_URL",
    help="MemberMouse > Developer Tools > API Credentials > API URL.",
)
MEMBERMOUSE_KEY = typer.Option(envvar="MEMBERFLOW_MEMBERMOUSE_API_KEY", help="Its API key.")
MEMBERMOUSE_SECRET = typer.Option(
    envvar="MEMBERFLOW_MEMBERMOUSE_API_SECRET", help="Its API secret."
)
SLOWER = typer.Option(min=0.1, help="Ask at most this fast (WordPress is no API farm).")


@sync_app.command("membermouse")
def sync_membermouse(
    api_url: Annotated[str, MEMBERMOUSE_URL],
    api_key: Annotated[str, MEMBERMOUSE_KEY],
    api_secret: Annotated[str, MEMBERMOUSE_SECRET],
    dry_run: Annotated[bool, typer.Option(help="Say what would change; write nothing.")] = False,
    restart: Annotated[
        bool, typer.Option(help="Start from the beginning, not where a cut refresh stopped.")
    ] = False,
    requests_per_second: Annotated[float, SLOWER] = membermouse_sync.REQUESTS_PER_SECOND,
) -> None:
    """Refreshes every MemberMouse member memberflow knows (their status, membership level,
    name and email), one getMember call each: MemberMouse's API cannot list members, so bring
    them in first with `memberflow import` or its notifications. A cut refresh resumes."""
    api = membermouse_sync.Api(api_url, api_key, api_secret, Pace(requests_per_second))
    run = partial(membermouse_sync.sync, api=api, currency=get_settings().currency)
    _run_sync("membermouse", "MemberMouse", run, dry_run, restart, membermouse_sync.SyncStopped)


def _run_sync(
    provider: str,
    title: str,
    run: Callable[..., Summary],
    dry_run: bool,
    restart: bool,
    stopping: type[Exception],
) -> Summary:
    """A sync with a progress line, its summary and what it skipped or noted by id."""
    db = engine()
    if restart:
        checkpoint.forget(db, provider)
    _say_resumed(db, provider, dry_run)
    ticker = Ticker(f"synced from {title}")

    def progress(summary: Summary) -> None:
        ticker.update(summary.total, f"({summary.sentence()})")

    try:
        summary = run(db, dry_run=dry_run, progress=progress)
    except stopping as stopped:
        fail(f"memberflow sync {provider}: {stopped}")
    except KeyboardInterrupt:
        fail(f"memberflow sync {provider}: stopped; each object written is whole: run it again")
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
    return summary


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
    requests_per_second: Annotated[
        float | None, typer.Option(min=0.1, help="Read at most this fast (default as sync's).")
    ] = None,
) -> None:
    """Lists Stripe's events (it keeps 30 days) since a while before the newest one memberflow
    has, and applies each the inbox lacks, as its webhook would have been (marked `reconcile`
    in `memberflow ingress inbox`). Exit code 2 when some were missing: lost webhooks are an
    incident (why was the endpoint down?), even once caught up."""
    from memberflow.sync import stripe as stripe_sync
    from memberflow.sync.reconcile import reconcile_stripe as reconcile

    try:
        done = reconcile(engine(), stripe_sync.client(api_key, api_base, requests_per_second))
    except stripe_sync.STOPPING as error:
        fail(f"memberflow reconcile stripe: {stripe_sync.stopped(error)}")
    print(f"{done.listed} Stripe event(s) since {done.since:%Y-%m-%d %H:%M} UTC listed")
    if not done.missing:
        print("none was missing")
        return
    print_table(done.rows())
    print(f"applied now: {dict(done.outcomes)}")
    raise typer.Exit(2)


@reconcile_app.command("memberpress")
def reconcile_memberpress(
    site: Annotated[
        str,
        typer.Option(envvar="MEMBERFLOW_MEMBERPRESS_URL", help="The site: https://example.com"),
    ],
    api_key: Annotated[
        str,
        typer.Option(envvar="MEMBERFLOW_MEMBERPRESS_API_KEY", help="The REST API key."),
    ],
    requests_per_second: Annotated[
        float, typer.Option(min=0.1, help="Read at most this fast.")
    ] = memberpress_sync.REQUESTS_PER_SECOND,
) -> None:
    """MemberPress keeps no list of its events to catch up from: this reads its members and
    subscriptions (a sync) and applies what differs from memberflow's. Exit code 2 when
    anything differed: webhooks were lost (why was the endpoint down?), even once caught up."""
    target = memberpress_sync.Site(site, api_key, Pace(requests_per_second))
    run = partial(memberpress_sync.sync, site=target, currency=get_settings().currency)
    summary = _run_sync(
        "memberpress", "MemberPress", run, False, False, memberpress_sync.SyncStopped
    )
    _say_drift(summary, "MemberPress")


def _say_drift(summary: Summary, title: str) -> None:
    differences = summary.differences()
    if not differences:
        print(f"memberflow agreed with {title}: no webhook was missing")
        return
    said = ", ".join(f"{n} {kind}(s)" for kind, n in differences.items())
    print(f"memberflow differed from {title} on {said}: now applied")
    raise typer.Exit(2)


@reconcile_app.command("membermouse")
def reconcile_membermouse(
    api_url: Annotated[str, MEMBERMOUSE_URL],
    api_key: Annotated[str, MEMBERMOUSE_KEY],
    api_secret: Annotated[str, MEMBERMOUSE_SECRET],
    requests_per_second: Annotated[float, SLOWER] = membermouse_sync.REQUESTS_PER_SECOND,
) -> None:
    """MemberMouse keeps no list of its events: this asks after each member memberflow knows
    and applies what differs. Exit code 2 when anything differed (notifications were lost)."""
    api = membermouse_sync.Api(api_url, api_key, api_secret, Pace(requests_per_second))
    run = partial(membermouse_sync.sync, api=api, currency=get_settings().currency)
    summary = _run_sync(
        "membermouse", "MemberMouse", run, False, False, membermouse_sync.SyncStopped
    )
    _say_drift(summary, "MemberMouse")
