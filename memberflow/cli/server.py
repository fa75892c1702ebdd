"""`memberflow server` and `memberflow demo`: a local Prefect server, and a demo business run
through every registered pipeline, one simulated day at a time."""

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from memberflow.cli import localserver
from memberflow.cli._common import engine, fail, load, print_table
from memberflow.cli.demo_business import demo_rows, demo_start, write_csv
from memberflow.cli.demo_folder import DemoFolder, DemoRefused
from memberflow.core import clock
from memberflow.core import db as database
from memberflow.core.console import Progress
from memberflow.core.settings import PROJECT_ROOT, Settings, get_settings
from memberflow.importer import import_csv
from memberflow.messaging import registry

server_app = typer.Typer(
    rich_markup_mode=None,
    help="A local Prefect server for trying memberflow.",
    no_args_is_help=True,
)


@server_app.command("start")
def server_start() -> None:
    """Start a local Prefect server (UI at http://127.0.0.1:4200) unless one is running."""
    api, started = localserver.ensure_running()
    print(f"Prefect server {'started' if started else 'already running'}: {api}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server started by memberflow."""
    print("stopped" if localserver.stop() else "no server started by memberflow is recorded here")


def demo(
    days: Annotated[int, typer.Option(min=1, max=366)] = 30,
    members: Annotated[int, typer.Option(min=1)] = 300,
    folder: Annotated[Path, typer.Option(help="Where the demo keeps its files.")] = Path("demo"),
    fresh: Annotated[
        bool, typer.Option(help="Start from an empty demo database (the demo's own only).")
    ] = True,
    reset: Annotated[
        bool, typer.Option(help="Replace a database in the demo folder it did not make.")
    ] = False,
) -> None:
    """A demo business, then every registered pipeline once per simulated day, under a local
    Prefect server. It works in its own folder (./demo): its database and outbox are there, and
    it never removes a file it did not make."""
    settings = get_settings()
    place = DemoFolder(folder)
    if settings.database_url != Settings.model_fields["database_url"].default:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        if fresh:  # never wipe a database someone configured: it may be the real one
            fail(
                f"the demo resets only its own database, and MEMBERFLOW_DATABASE_URL points at "
                f"{url}: unset it, or pass --no-fresh to load the demo business into that database"
            )
    else:
        os.environ["MEMBERFLOW_DATABASE_URL"] = place.database_url
        os.environ.setdefault("MEMBERFLOW_OUTBOX_DIR", str(place.outbox))
        get_settings.cache_clear()
        settings = get_settings()
        if fresh:
            try:
                place.prepare(reset=reset)
            except DemoRefused as refused:
                fail(str(refused))
    before = place.files() if folder.exists() else set()
    api, started = localserver.ensure_running()
    os.environ["PREFECT_API_URL"] = api
    _keep_prefect_logs_in_the_ui()
    database.upgrade(settings.database_url, branches=registry.migration_branches())
    with engine().begin() as conn:  # its days run ahead of the clock: never a real database
        clock.mark(conn, clock.Role.simulation, datetime.now(UTC))
    start = demo_start()
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(folder / "demo-members.csv", demo_rows(start, members))
    report = import_csv(engine(), csv_path)
    print(f"demo business: {report.loaded} subscriptions from {csv_path}\n")
    _test_the_renewal_reminder(start)

    pipelines = [r for r in registry.registered().values() if r.demo is not None]
    hooks = [load(r.demo.day) for r in pipelines]
    daily, progress = [], Progress("simulated days", days)
    for day in range(days):
        as_of = start + timedelta(days=day)
        figures = {"day": as_of.date().isoformat()}
        for run_day in hooks:
            figures |= run_day(as_of)
        daily.append(figures)
        progress.update(day + 1)
    print()
    print_table(daily)
    print(f"\nmessages written to {settings.outbox_dir.resolve()}/ as .eml files")
    for registration in pipelines:
        if registration.demo.summary is not None:
            print(f"\n{registration.demo.summary_title}")
            print_table(registration.demo.summary(engine()))
    print(LEGEND)
    # the owner's view of the simulated month: the retention report, also an artifact in the UI
    retention_report = load("flows.retention_report:retention_report")
    print(retention_report(as_of=start + timedelta(days=days), days=days))
    place.remember(before)
    ui = api.removesuffix("/api")
    names = ", ".join(f"'{r.name}'" for r in pipelines)
    print(f"\nRuns, logs and artifacts: {ui} (pipelines {names})")
    if started:
        print("The Prefect server keeps running; stop it with: make stop-server")


def _test_the_renewal_reminder(start) -> None:
    """The owner asks whether the renewal reminder matters: the shipped example experiment holds
    5% of them back (the report's experiments section then compares)."""
    from memberflow.cli.experiments import read_plan
    from memberflow.messaging import experiments

    example = PROJECT_ROOT / "examples" / "experiments" / "renewal-reminder.toml"
    plan = read_plan(example)
    try:
        with engine().begin() as conn:
            experiments.start(conn, plan, start)
        print(f"experiment {plan.name}: {example.relative_to(PROJECT_ROOT)}\n")
    except ValueError:  # a demo run into its database again: it is running already
        pass


LEGEND = """
What the words mean (a day's "planned" counts the messages that fell due and were recorded that
day; the other columns count what became of the messages the day's run delivered, whenever they
were planned, so they need not add up to "planned"):
  planned    a message became due and was recorded, before anything was sent
  sent       delivered to the output (here: an .eml file in the demo's outbox)
  skipped    no longer right to send when due (canceled, paid, came back, no consent)
  held_out   the experiment's holdout: no message, on purpose, for comparison
  expired    found too late to be right (a missed day beyond the step's lateness)
  held       the contact cap held a marketing message until it was too late
  failed     the output refused it; later runs try again
  dead       failed too often, or refused for good (a bad address): a person must look
             (memberflow touchpoints --status dead)
  not_tried  the output was down, so the run stopped before it; the next run sends it
  gateway alert, waiting   the payment gateway itself failed: ops were told, the member
             was not; the case resumes once the gateway answers (memberflow cases resume)"""


def _keep_prefect_logs_in_the_ui() -> None:
    """The runs' own log lines stay in the Prefect UI; the terminal shows the demo's summary
    (and any warning)."""
    import logging

    # Prefect's logging config reads this whenever it is (re)loaded; the handler is set too,
    # as Prefect configured it already when it was imported
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    import prefect  # noqa: F401 (configures Prefect's logging)

    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            handler.setLevel(logging.WARNING)


@server_app.command("notify-on-failure")
def notify_on_failure(
    block: Annotated[
        str, typer.Argument(help="A saved notification Block, e.g. slack-webhook/ops.")
    ],
) -> None:
    """Create the Prefect automation that notifies you when a memberflow run fails
    (automations/notify-on-failed-runs.yaml, filled in with the block and the flows)."""
    import yaml
    from prefect.blocks.core import Block

    try:
        notification = Block.load(block)
    except (ValueError, RuntimeError) as error:
        fail(f"no notification block {block!r}: {error} (create one in the UI: Blocks > +)")
    spec = yaml.safe_load((PROJECT_ROOT / "automations" / "notify-on-failed-runs.yaml").read_text())
    flows = sorted(load(r.flow).name for r in registry.registered().values())
    spec["trigger"]["match_related"]["prefect.resource.name"] = flows
    spec["actions"][0]["block_document_id"] = str(notification._block_document_id)
    created = _apply_automation(spec)
    print(
        f"automation {created.name!r} ({created.id}): a failed run of {', '.join(flows)} "
        f"notifies {block}"
    )


def _apply_automation(spec: dict):
    """Creates the automation `spec`, replacing any of the same name (one, whatever reruns)."""
    from prefect.automations import Automation

    while True:
        try:
            Automation.read(name=spec["name"]).delete()
        except ValueError:  # none (left)
            break
    return Automation.model_validate(spec).create()


@server_app.command("crash-zombies")
def crash_zombies() -> None:
    """Create the Prefect automation that marks a run Crashed when its worker dies
    (automations/crash-zombie-runs.yaml); workers need PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30."""
    import yaml

    spec = yaml.safe_load((PROJECT_ROOT / "automations" / "crash-zombie-runs.yaml").read_text())
    created = _apply_automation(spec)
    print(
        f"automation {created.name!r} ({created.id}): a run without a heartbeat for "
        f"{spec['trigger']['within']} s is marked Crashed; start workers with "
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30"
    )


@server_app.command("share-limits")
def share_limits(
    output: Annotated[str, typer.Argument(help="A saved output Block, e.g. zapier-output/crm.")],
) -> None:
    """Create (or update) the Prefect global concurrency limits that hold an output's
    max_concurrency and rate_limit across every worker; then set
    MEMBERFLOW_SHARED_OUTPUT_LIMITS=true where the flows run."""
    from prefect import get_client

    from blocks.outputs import load_output

    try:
        sink = load_output(output)
    except (ValueError, LookupError) as error:
        fail(str(error))
    in_flight, rate = sink.shared_limit_names()
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(in_flight, sink.concurrency)
        print(f"{in_flight}: at most {sink.concurrency} sends in flight across workers")
        if rate:
            # a rate limit is slots that decay: `rate_limit` needs slot_decay_per_second > 0
            slots = max(1, math.ceil(sink.rate_limit))
            client.upsert_global_concurrency_limit_by_name(rate, slots, sink.rate_limit)
            print(f"{rate}: at most {sink.rate_limit:g} sends a second across workers")
