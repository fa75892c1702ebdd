"""`memberflow ...`: the command line. The one module of the core that reaches up to flows/
(lazily, inside `run` and `demo`), because starting a flow is what a CLI is for."""

import json
import logging
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from memberflow import localserver
from memberflow.core import db as database
from memberflow.core.models import CaseStatus, TouchpointStatus
from memberflow.core.settings import Settings, get_settings
from memberflow.importer import import_csv
from memberflow.messaging import store
from memberflow.messaging.rendering import Renderer, TemplateProblem
from memberflow.pipelines.dunning import cases as dunning_cases
from memberflow.pipelines.reminders.pipeline import DEFAULT_STEPS, anchor_for, message_fields
from memberflow.samples import sample_fields

app = typer.Typer(
    help="memberflow: membership billing automation on Prefect.", no_args_is_help=True
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
run_app = typer.Typer(help="Run one pipeline once, here and now.", no_args_is_help=True)
templates_app = typer.Typer(help="Check and preview message templates.", no_args_is_help=True)
server_app = typer.Typer(help="A local Prefect server for trying memberflow.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")
app.add_typer(templates_app, name="templates")
app.add_typer(server_app, name="server")


def _engine():
    return database.get_engine(get_settings().database_url)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _print_table(rows: list[dict]) -> None:
    if not rows:
        print("(none)")
        return
    columns = list(rows[0])
    text = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


# -- database and data -----------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or migrate it to the current schema (SQLite or PostgreSQL)."""
    url = get_settings().database_url
    database.upgrade(url)
    print(f"database at {make_url(url).render_as_string(hide_password=True)} is up to date")


@app.command("import")
def import_members(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Load members, products and subscriptions from a CSV (columns: see the README)."""
    report = import_csv(_engine(), path)
    print(f"loaded {report.loaded} row(s) from {path}")
    for problem in report.problems:
        typer.secho(f"  {problem}", fg=typer.colors.RED, err=True)
    if report.problems:
        _fail(
            f"{len(report.problems)} problem(s); the good rows were loaded, fix the rest and re-run"
        )


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"


@app.command("touchpoints")
def touchpoints(
    status: Annotated[
        list[TouchpointStatus] | None, typer.Option(help="Repeat for several.")
    ] = None,
    pipeline: Annotated[str | None, typer.Option()] = None,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """What was planned, sent, failed, expired or skipped: one record per touchpoint."""
    with _engine().connect() as conn:
        rows = store.list_touchpoints(conn, statuses=status or (), pipeline=pipeline)
        if format is Format.jsonl:  # streamed: the outbox can be large
            for row in rows:
                print(json.dumps(_touchpoint_record(row)))
        else:
            _print_table([_touchpoint_record(row) for row in rows])


def _touchpoint_record(row) -> dict:
    record = dict(row._mapping)
    for name in ("due_at", "sent_at"):
        record[name] = record[name].isoformat() if record[name] else None
    return record


# -- running ---------------------------------------------------------------------------------


def _parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--as-of {value!r} is not an ISO 8601 time such as 2026-12-01T09:00:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@run_app.command("reminders")
def run_reminders(
    as_of: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-12-01T09:00:00Z.")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Render and report; send and record nothing.")
    ] = False,
    output: Annotated[str, typer.Option(help="Saved output Block, type-slug/name.")] = "",
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """One run of the billing-reminder flow for a moment (default: now)."""
    from flows.reminders import reminders

    rows = reminders(
        as_of=_parse_moment(as_of), dry_run=dry_run, output=output, batch_size=batch_size
    )
    _print_table(rows)


@run_app.command("dunning")
def run_dunning(
    as_of: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-12-01T09:00:00Z.")] = None,
    gateway: Annotated[str, typer.Option(help="Saved gateway Block; default: sandbox.")] = "",
    output: Annotated[str, typer.Option(help="Saved output Block for member emails.")] = "",
    ops_output: Annotated[str, typer.Option(help="Saved output Block for tickets.")] = "",
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
) -> None:
    """One run of the dunning flow: advance every open case at a moment (default: now)."""
    from flows.dunning import dunning

    summary = dunning(
        as_of=_parse_moment(as_of),
        gateway=gateway,
        output=output,
        ops_output=ops_output,
        batch_size=batch_size,
    )
    _print_table([{"measure": name, "value": value} for name, value in summary.items()])


# -- dunning cases ---------------------------------------------------------------------------

cases_app = typer.Typer(help="Dunning cases: list them, resume paused ones.")
app.add_typer(cases_app, name="cases")


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
    rows = dunning_cases.list_cases(_engine(), [s.value for s in status or ()])
    for row in rows:
        for name in ("opened_at", "next_retry_at", "escalated_at"):
            row[name] = row[name].isoformat(timespec="minutes") if row[name] else None
    _print_table(rows)


@cases_app.command("resume")
def cases_resume(
    invoices: Annotated[list[str] | None, typer.Argument(help="Invoice external ids.")] = None,
    all_paused: Annotated[bool, typer.Option("--all", help="Every paused case.")] = False,
) -> None:
    """Reopen cases paused by a gateway error, once the gateway is fixed."""
    if not invoices and not all_paused:
        _fail("name the invoices to resume, or pass --all")
    resumed = dunning_cases.resume(_engine(), None if all_paused else invoices)
    print(f"{resumed} case(s) resumed; the next dunning run retries them")


# -- templates -------------------------------------------------------------------------------


def _renderer() -> Renderer:
    settings = get_settings()
    return Renderer(settings.templates_dir, settings.default_locale)


@templates_app.command("lint")
def templates_lint() -> None:
    """Render every template in every locale with sample data; report every problem at once."""
    renderer = _renderer()
    problems = renderer.lint(sample_fields(get_settings()))
    for problem in problems:
        typer.secho(str(problem), fg=typer.colors.RED, err=True)
    names = renderer.template_names()
    if problems:
        _fail(f"{len(problems)} problem(s) in {len(names)} template(s)")
    print(f"{len(names)} template(s) render cleanly in every locale")


@templates_app.command("preview")
def templates_preview(
    name: Annotated[str, typer.Argument(help="e.g. reminders/renewal")],
    member: Annotated[str | None, typer.Option(help="A member's external id.")] = None,
    locale: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Print the subject, text and HTML of a template for a member (or sample data)."""
    settings = get_settings()
    samples = sample_fields(settings)
    if name not in samples:
        _fail(f"no step uses template {name!r}; known: {', '.join(sorted(samples))}")
    step = next((s for s in DEFAULT_STEPS if s.template_name == name), None)
    fields = samples[name]
    row_locale = locale
    if member and step is None:
        _fail("--member works for reminder templates; dunning templates preview with sample data")
    if member:
        with _engine().connect() as conn:
            rows = store.member_subscription_rows(conn, member)
        if not rows:
            _fail(f"no member with external id {member!r} (or they have no subscription)")
        row = rows[0]
        anchor = anchor_for(step, row) or row.current_period_end
        fields = message_fields(step, row, anchor, settings)
        row_locale = locale or row.locale
    try:
        rendered = _renderer().render(name, row_locale or "en", fields)
    except TemplateProblem as problem:
        _fail(str(problem))
    print(f"Subject: {rendered.subject}\n\n--- text ---\n{rendered.text}")
    print(f"--- html ---\n{rendered.html}")


# -- local Prefect server and the demo -------------------------------------------------------


@server_app.command("start")
def server_start() -> None:
    """Start a local Prefect server (UI at http://127.0.0.1:4200) unless one is running."""
    api, started = localserver.ensure_running()
    print(f"Prefect server {'started' if started else 'already running'}: {api}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Prefect server started by memberflow."""
    print("stopped" if localserver.stop() else "no server started by memberflow is recorded here")


@app.command("demo")
def demo(
    days: Annotated[int, typer.Option(min=1, max=366)] = 30,
    members: Annotated[int, typer.Option(min=1)] = 300,
    fresh: Annotated[
        bool, typer.Option(help="Start from an empty database (only the default SQLite file).")
    ] = True,
) -> None:
    """A demo business, then one reminder run per simulated day, under a local Prefect server."""
    from memberflow.demo import (
        demo_rows,
        demo_start,
        dunning_summary,
        members_update_cards,
        renew_due,
        write_csv,
    )

    settings = get_settings()
    url = make_url(settings.database_url)
    if fresh:
        if settings.database_url != Settings.model_fields["database_url"].default:
            # never wipe a database someone configured: it may be the real one
            _fail(
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
    report = import_csv(_engine(), csv_path)
    print(f"demo business: {report.loaded} subscriptions from {csv_path}\n")

    from flows.dunning import dunning
    from flows.reminders import reminders

    daily = []
    for day in range(days):
        as_of = start + timedelta(days=day)
        total = reminders(as_of=as_of)[-1]
        renewed, failed = renew_due(_engine(), as_of)
        members_update_cards(_engine(), as_of)
        recovery = dunning(as_of=as_of + timedelta(hours=1))
        daily.append(
            {
                "day": as_of.date().isoformat(),
                **{k: v for k, v in total.items() if k != "step"},
                "renewals_paid": renewed,
                "renewals_failed": failed,
                "retries": recovery["retries"],
                "recovered": recovery["recovered"],
                "dunning_emails": recovery["emails_sent"],
            }
        )
        print(
            f"  {as_of.date()}: reminders sent {total['sent']}, renewals {renewed} paid "
            f"{failed} failed, dunning recovered {recovery['recovered']}",
            file=sys.stderr,
        )
    print()
    _print_table(daily)
    sent = sum(row["sent"] for row in daily)
    print(f"\n{sent} reminders written to {settings.outbox_dir.resolve()}/ as .eml files")
    print("\nFailed renewals, by how they ended and which step ended them:")
    _print_table(dunning_summary(_engine()))
    print("(memberflow cases lists each one; ops tickets are in the outbox's ops/ folder)")
    ui = api.removesuffix("/api")
    print(f"Runs, logs and artifacts: {ui} (flows 'billing-reminders' and 'dunning')")
    if started:
        print("The Prefect server keeps running; stop it with: make stop-server")


# -- the webhook ingress ---------------------------------------------------------------------

ingress_app = typer.Typer(help="The webhook ingress for payment providers.", no_args_is_help=True)
app.add_typer(ingress_app, name="ingress")


def _prefect_api():
    """Prefect's API from MEMBERFLOW_PREFECT_API_URL, else Prefect's own settings (profile or
    PREFECT_API_URL); None when neither names one."""
    from memberflow.ingress.emitter import PrefectApi

    settings = get_settings()
    if settings.prefect_api_url:
        return PrefectApi(settings.prefect_api_url)
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if not api.url:
        return None
    headers = {}
    if api.key:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    elif api.auth_string:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return PrefectApi(api.url, headers)


@ingress_app.command("serve")
def ingress_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Serve /webhooks/{stripe,memberpress,membermouse,memberflow} until stopped."""
    import uvicorn

    from memberflow.ingress.app import create_app

    settings = get_settings()
    try:
        database.require_schema(_engine())
    except database.SchemaMissing as error:
        _fail(str(error))
    api = _prefect_api()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    print(
        f"ingress on http://{host}:{port}; Prefect events to {api.url if api else '(nowhere yet)'}"
    )
    uvicorn.run(create_app(settings, api), host=host, port=port, log_level="info")


@ingress_app.command("replay")
def ingress_replay(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A stored payload.")],
    provider: Annotated[str, typer.Option(help="stripe, memberpress, membermouse or memberflow.")],
    url: Annotated[str, typer.Option(help="The running ingress.")] = "http://127.0.0.1:8787",
) -> None:
    """Sign a payload as its provider would and send it to a running ingress."""
    import requests

    from memberflow.ingress.replay import NotConfigured, signed_request

    try:
        target, body, headers = signed_request(provider, path.read_bytes(), get_settings())
    except NotConfigured as error:
        _fail(str(error))
    try:
        response = requests.post(url.rstrip("/") + target, data=body, headers=headers, timeout=30)
    except requests.RequestException as error:
        _fail(f"could not reach the ingress at {url}: {type(error).__name__} (is it running?)")
    print(f"{response.status_code} {response.text}")
    if response.status_code >= 400:
        raise typer.Exit(1)


@ingress_app.command("emit")
def ingress_emit() -> None:
    """Send the Prefect events still waiting in the inbox (the ingress does this by itself)."""
    from memberflow.ingress.emitter import Emitter

    api = _prefect_api()
    if api is None:
        _fail("no Prefect API: set PREFECT_API_URL (or MEMBERFLOW_PREFECT_API_URL)")
    report = Emitter(_engine(), api).emit_pending()
    print(f"emitted {report.emitted} event(s)")
    if report.error:
        _fail(f"{report.error}; {report.failed} event(s) still wait in the inbox")


@ingress_app.command("inbox")
def ingress_inbox(
    status: Annotated[
        str | None, typer.Option(help="applied, stale, ignored, unmatched or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest first, at most this many.")] = 50,
) -> None:
    """List received webhooks and what became of them."""
    from memberflow.ingress import inbox

    _print_table(inbox.list_webhooks(_engine(), status, limit))


@ingress_app.command("reapply")
def ingress_reapply() -> None:
    """Apply again the webhooks left unmatched or failed (after importing what they lacked)."""
    from memberflow.ingress import inbox
    from memberflow.ingress.app import translate_stored

    settings = get_settings()
    results = inbox.reapply(_engine(), lambda row: translate_stored(row, settings))
    for result in results:
        print(f"webhook {result.webhook_id}: {result.status} {result.note or ''}".rstrip())
    print(
        f"reapplied {len(results)} webhook(s); the running ingress sends their Prefect events "
        "(or `memberflow ingress emit`)"
    )
