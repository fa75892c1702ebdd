"""`memberflow report`: the retention report for a period, printed or exported."""

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer

from memberflow.analytics.period import Period
from memberflow.analytics.report import TABLES, build, markdown
from memberflow.cli._common import engine, fail, parse_moment, print_table


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def report(
    start: Annotated[
        str | None, typer.Option("--from", help="ISO time; default: 30 days before --to.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time; default: now.")] = None,
    product: Annotated[
        list[str] | None, typer.Option(help="Only this product (repeatable).")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format")] = Format.table,
    table: Annotated[
        str,
        typer.Option(
            help=f"With --format csv, which breakdown: {', '.join(TABLES)}, or a "
            "pipeline's own (surveys-nps, cancellations-win-backs...)."
        ),
    ] = "churn",
) -> None:
    """Churn, failed-payment recovery, deliveries and lifetime value (docs/metrics.md)."""
    until = parse_moment(end) or datetime.now(UTC)
    since = parse_moment(start) or until - timedelta(days=30)
    try:
        period = Period(since, until)
    except ValueError as error:
        fail(str(error))
    found = build(engine(), period, product)
    tables = found.tables()
    if table not in tables:
        fail(f"--table {table!r} is not one of {', '.join(tables)}")
    if output_format is Format.json:
        print(json.dumps({"period": period.label(), **tables}, indent=2, default=str))
    elif output_format is Format.csv:
        rows = tables[table]
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        print(markdown(found))
        for name, rows in tables.items():
            print(f"\n{name}")
            print_table(rows)
