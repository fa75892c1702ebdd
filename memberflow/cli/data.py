"""`memberflow db`, `import` and `touchpoints`: the database and what is in it."""

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from memberflow.cli._common import engine, fail, print_table
from memberflow.core import db as database
from memberflow.core.models import TouchpointStatus
from memberflow.core.settings import get_settings
from memberflow.messaging import outbox_admin, registry

db_app = typer.Typer(rich_markup_mode=None, help="The database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or migrate it to the current schema (SQLite or PostgreSQL)."""
    url = get_settings().database_url
    database.upgrade(url, branches=registry.migration_branches())
    print(f"database at {make_url(url).render_as_string(hide_password=True)} is up to date")


def import_members(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    dry_run: Annotated[
        bool, typer.Option(help="Check the file and say what would change; write nothing.")
    ] = False,
) -> None:
    """Load members, products and subscriptions from a CSV (columns: see the README). Every
    row is checked first: if one is wrong, nothing is written."""
    from memberflow.importer import import_csv  # pydantic, email checks, Babel: this command's

    report = import_csv(
        engine(), path, locales=template_locales(), dry_run=dry_run, show_progress=True
    )
    for problem in report.problems:
        typer.secho(f"  {problem}", fg=typer.colors.RED, err=True)
    if report.problems:
        fail(f"{len(report.problems)} problem(s) in {path}: nothing was imported; fix and re-run")
    verb = "would" if dry_run else "did"
    outcome = "dry run: nothing written" if dry_run else "imported"
    print(f"{report.loaded} row(s) in {path} ({outcome})")
    if report.encoding == "windows-1252":
        print("  read as Windows-1252 (not UTF-8): check accented names, e.g. with --dry-run")
    for kind in ("members", "products", "subscriptions"):
        created, changed = report.created.get(kind, 0), report.changed.get(kind, 0)
        print(f"  {kind}: {verb} create {created}, {verb} change {changed}")
    for product in report.new_products:
        print(f"  new product: {product} (a typo in a product id also shows here)")


def template_locales() -> tuple[str, ...]:
    """The languages member messages exist in: a member's locale must be one of them."""
    from memberflow.messaging.rendering import Renderer

    settings = get_settings()
    renderer = Renderer(registry.template_folders(settings), settings.default_locale)
    found = {locale for name in renderer.template_names() for locale in renderer.locales(name)}
    return tuple(sorted(found))


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"


def touchpoints(
    status: Annotated[
        list[TouchpointStatus] | None, typer.Option(help="Repeat for several.")
    ] = None,
    pipeline: Annotated[str | None, typer.Option()] = None,
    format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """What was planned, sent, failed, expired or skipped: one record per touchpoint."""
    with engine().connect() as conn:
        rows = outbox_admin.list_touchpoints(conn, statuses=status or (), pipeline=pipeline)
        if format is Format.jsonl:  # streamed: the outbox can be large
            for row in rows:
                print(json.dumps(_touchpoint_record(row)))
        else:
            print_table([_touchpoint_record(row) for row in rows])


def requeue(
    keys: Annotated[
        list[str] | None, typer.Argument(help="Touchpoint keys, as `touchpoints` lists them.")
    ] = None,
    pipeline: Annotated[str | None, typer.Option(help="Every dead message of it.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every dead message.")] = False,
) -> None:
    """Send dead messages again, once what killed them is fixed (the answer each got is in
    `memberflow touchpoints --status dead`): they go back in the queue with their tries afresh,
    and the pipeline's next run sends them, unless they are too late by then."""
    if not (keys or pipeline or every):
        fail("say which: touchpoint KEYs, --pipeline NAME, or --all")
    with engine().begin() as conn:
        count = outbox_admin.requeue(
            conn, now=datetime.now(UTC), keys=keys or (), pipeline=pipeline
        )
    where = f"{pipeline}'s" if pipeline else "its pipeline's"
    print(f"{count} dead message(s) requeued: {where} next run sends them")
    if keys and count < len(keys):
        print(f"  {len(keys) - count} of the keys given are not dead (or unknown): left alone")


def _touchpoint_record(row) -> dict:
    record = dict(row._mapping)
    for name in ("due_at", "next_attempt_at", "sent_at"):
        record[name] = record[name].isoformat() if record[name] else None
    return record
