"""Feedback surveys' tasks: record the answers members gave at the provider; publish results."""

from datetime import datetime

from prefect.artifacts import create_table_artifact
from sqlalchemy import Engine

from memberflow.pipelines.surveys import records
from memberflow.pipelines.surveys.results import report
from tasks import batch_task

record_provider_answers = batch_task(
    records.record_provider_answers, name="record_provider_answers"
)


@batch_task
def publish_results(db: Engine, as_of: datetime) -> dict[str, list[dict]]:
    """The results to date as table artifacts, one per table, under stable keys."""
    with db.connect() as conn:
        invited, found = records.load(conn)
    tables = report(invited, found)
    for title, rows in tables.items():
        key = "surveys-" + title.replace(" ", "-")
        create_table_artifact(
            rows or [{"": "none yet"}], key=key, description=f"{title}, {as_of:%Y-%m-%d}"
        )
    return tables
