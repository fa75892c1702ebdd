"""`memberflow server` and `memberflow demo`: a local Prefect server, and a demo business run
through every registered pipeline, one simulated day at a time."""

import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from memberflow.cli import localserver
from memberflow.cli._common import engine, fail, load, print_table
from memberflow.cli.demo_business import demo_rows, demo_start, write_csv
from memberflow.core import db as database
from memberflow.core.settings import PROJECT_ROOT, Settings, get_settings
from memberflow.importer import import_csv
from memberflow.messaging import registry

server_app = typer.Typer(help="A local Prefect server for trying memberflow.", no_args_is_help=True)


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
    fresh: Annotated[
        bool, typer.Option(help="Start from an empty database (only the default SQLite file).")
    ] = True,
) -> None:
    """A demo business, then every registered pipeline once per simulated day, under a local
    Prefect server."""
    settings = get_settings()
    url = make_url(settings.database_url)
    if fresh:
        if settings.database_url != Settings.model_fields["database_url"].default:
            # never wipe a database someone configured: it may be the real one
            fail(
                f"the demo resets only the default database, and MEMBERFLOW_DATABASE_URL points "
                f"at {url.render_as_string(hide_password=True)}: unset it, or pass --no-fresh "
                "to load the demo business into that database"
            )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(settings.outbox_dir, ignore_errors=True)
    api, started = localserver.ensure_running()
    os.environ["PREFECT_API_URL"] = api
    database.upgrade(settings.database_url)
    start = demo_start()
    csv_path = write_csv(Path("demo-members.csv"), demo_rows(start, members))
    report = import_csv(engine(), csv_path)
    print(f"demo business: {report.loaded} subscriptions from {csv_path}\n")

    pipelines = [r for r in registry.registered().values() if r.demo is not None]
    hooks = [load(r.demo.day) for r in pipelines]
    daily = []
    for day in range(days):
        as_of = start + timedelta(days=day)
        figures = {"day": as_of.date().isoformat()}
        for run_day in hooks:
            figures |= run_day(as_of)
        daily.append(figures)
        shown = ", ".join(f"{k} {v}" for k, v in figures.items() if k != "day")
        print(f"  {as_of.date()}: {shown}", file=sys.stderr)
    print()
    print_table(daily)
    print(f"\nmessages written to {settings.outbox_dir.resolve()}/ as .eml files")
    for registration in pipelines:
        if registration.demo.summary is not None:
            print(f"\n{registration.demo.summary_title}")
            print_table(registration.demo.summary(engine()))
    ui = api.removesuffix("/api")
    names = ", ".join(f"'{r.name}'" for r in pipelines)
    print(f"\nRuns, logs and artifacts: {ui} (pipelines {names})")
    if started:
        print("The Prefect server keeps running; stop it with: make stop-server")


@server_app.command("notify-on-failure")
def notify_on_failure(
    block: Annotated[
        str, typer.Argument(help="A saved notification Block, e.g. slack-webhook/ops.")
    ],
) -> None:
    """Create the Prefect automation that notifies you when a memberflow run fails
    (automations/notify-on-failed-runs.yaml, filled in with the block and the flows)."""
    import yaml
    from prefect.automations import Automation
    from prefect.blocks.core import Block

    try:
        notification = Block.load(block)
    except (ValueError, RuntimeError) as error:
        fail(f"no notification block {block!r}: {error} (create one in the UI: Blocks > +)")
    spec = yaml.safe_load((PROJECT_ROOT / "automations" / "notify-on-failed-runs.yaml").read_text())
    flows = sorted(load(r.flow).name for r in registry.registered().values())
    spec["trigger"]["match_related"]["prefect.resource.name"] = flows
    spec["actions"][0]["block_document_id"] = str(notification._block_document_id)
    created = Automation.model_validate(spec).create()
    print(
        f"automation {created.name!r} ({created.id}): a failed run of {', '.join(flows)} "
        f"notifies {block}"
    )
