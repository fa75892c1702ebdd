"""The surveys' sections of the retention report: their records read, their results computed
(results.py stays pure, records.py reads the database: this module joins the two)."""

from collections import Counter
from datetime import datetime

from sqlalchemy import Connection

from memberflow.pipelines.surveys import records
from memberflow.pipelines.surveys.results import report


def report_sections(
    conn: Connection, start: datetime, end: datetime, products: list[str] | None
) -> dict:
    """The retention report's survey sections: response rates, exit reasons, NPS (not the
    comments: the report is numbers)."""
    invited, found = Counter(), []
    for product in products or [None]:
        more_invited, more = records.load(conn, since=start, until=end, product_external_id=product)
        invited, found = invited + more_invited, found + more
    tables = report(invited, found)
    tables.pop("latest comments")
    return tables
