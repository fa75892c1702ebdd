"""`memberflow report` and `memberflow forecast`: the retention report for a period, and the
coming days, printed or exported."""

import csv
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer

from memberflow.analytics.forecast import forecast as ahead
from memberflow.analytics.period import Period
from memberflow.analytics.report import TABLES, build, markdown
from memberflow.cli._common import engine, fail, parse_moment, print_table
from memberflow.core.money import format_money
from memberflow.messaging import registry


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
    until = parse_moment(end, "--to") or datetime.now(UTC)
    since = parse_moment(start, "--from") or until - timedelta(days=30)
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


def forecast(
    days: Annotated[int, typer.Option(min=1, max=366, help="How many days ahead.")] = 30,
    pipeline: Annotated[
        list[str] | None, typer.Option(help="Only this pipeline (repeatable); default: all.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="ISO time to count from; default: now.")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """What memberflow will send per day, pipeline and step, and the revenue at stake: the
    runs' own planning run ahead, recording nothing (docs/operations.md)."""
    since = parse_moment(start, "--from") or datetime.now(UTC)
    unknown = set(pipeline or ()) - set(registry.registered())
    if unknown:
        fail(f"--pipeline {', '.join(sorted(unknown))}: known: {', '.join(registry.registered())}")
    found = ahead(engine(), since, days, pipeline)
    if output_format is Format.json:
        body = {"from": since.isoformat(), "days": days, "messages": found.messages}
        print(json.dumps({**body, "at_stake": found.at_stake}, indent=2, default=str))
        return
    if output_format is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=["day", "pipeline", "step", "messages"])
        writer.writeheader()
        writer.writerows(found.messages)
        return
    total = sum(row["messages"] for row in found.messages)
    print(f"The next {days} days from {since:%Y-%m-%d %H:%M} UTC: {total} messages")
    print("(by the UTC day they fall due, before send-time checks: consent, the contact cap,")
    print("an experiment's holdout, a renewal paid or canceled meanwhile)\n")
    print_table(found.messages)
    by_step = Counter()
    for row in found.messages:
        by_step[(row["pipeline"], row["step"])] += row["messages"]
    print()
    print_table(
        [{"pipeline": p, "step": s, "messages": n} for (p, s), n in sorted(by_step.items())]
    )
    print("\nAt stake:")
    print_table(
        [
            {
                "currency": row["currency"],
                "what": row["what"],
                "subscriptions": row["subscriptions"],
                "amount": format_money(row["amount_minor"] or 0, row["currency"], "en"),
            }
            for row in found.at_stake
        ]
    )
