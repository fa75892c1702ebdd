"""`memberflow surveys results`: the surveys' own command group (in `registration.commands`)."""

import csv
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy import Engine

from memberflow.core.console import parse_moment, print_table
from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from memberflow.pipelines.surveys import records
from memberflow.pipelines.surveys.results import COLUMNS, report

surveys_app = typer.Typer(
    rich_markup_mode=None, help="Feedback surveys: their results.", no_args_is_help=True
)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@surveys_app.command("results")
def surveys_results(
    since: Annotated[str | None, typer.Option("--from", help="From this day (ISO).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before this day (ISO).")] = None,
    product: Annotated[str | None, typer.Option(help="One product's external id.")] = None,
    output_format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Response rate, exit reasons by product and tenure, NPS, the latest comments."""
    engine = get_engine(get_settings().database_url)
    with engine.connect() as conn:
        invited, found = records.load(
            conn,
            since=parse_moment(since, "--from"),
            until=parse_moment(until, "--to"),
            product_external_id=product,
        )
    tables = report(invited, found)
    if output_format is Format.json:
        print(json.dumps(tables, indent=2, ensure_ascii=False, default=str))
        return
    for title, rows in tables.items():
        if output_format is Format.csv:  # every table, its header even when it has no rows
            print(f"# {title}")
            writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS[title])
            writer.writeheader()
            writer.writerows(rows)
            continue
        print(f"\n{title}")
        print_table(rows)


def demo_summary(engine: Engine) -> list[dict]:
    """The demo's closing table: per survey, how many were asked, opened and answered, and
    the satisfaction score."""
    with engine.connect() as conn:
        invited, found = records.load(conn)
    tables = report(invited, found)
    overall = next((row for row in tables["nps"] if row["product"] == "all products"), {})
    return [
        {**row, "nps": overall.get("nps", "-") if row["survey"] == "nps" else ""}
        for row in tables["responses"]
    ]
