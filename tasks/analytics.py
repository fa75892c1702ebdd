"""The retention report's I/O: its SQL aggregates in one task, its artifacts in another."""

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from sqlalchemy import Engine

from memberflow.analytics.period import Period
from memberflow.analytics.report import Report, build, for_people, markdown
from tasks import batch_task

ARTIFACT_PREFIX = "retention"  # stable keys: the UI shows each artifact's history


@batch_task(task_run_name="retention figures {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}")
def compute_report(db: Engine, period: Period, products: list[str] | None = None) -> Report:
    return build(db, period, products)


@batch_task
def publish_report(report: Report) -> None:
    scope = "-".join(report.products) if report.products else "all"
    description = f"Retention, {report.period.label()}"
    create_markdown_artifact(
        markdown(report, chart=True),
        key=f"{ARTIFACT_PREFIX}-{scope}-summary",
        description=description,
    )
    for name, rows in report.tables().items():
        if rows:
            create_table_artifact(
                [for_people(row) for row in rows],
                key=f"{ARTIFACT_PREFIX}-{scope}-{name}",
                description=description,
            )
