"""The cancel moment's tasks: carry out the decisions members made on the cancel page (one
batch at the provider), and say what came of them as an artifact."""

from datetime import datetime, timedelta

from prefect.artifacts import create_table_artifact
from sqlalchemy import Engine

from blocks.gateways.base import PaymentGateway
from memberflow.pipelines.cancel_moment.carry_out import Carried, carry_out
from tasks import batch_task


@batch_task(retries=0)  # what failed stays recorded, and the next run tries it again
def carry_out_decisions(
    db: Engine, gateway: PaymentGateway, now: datetime, within: timedelta
) -> Carried:
    return carry_out(db, gateway.carry_out_decision, now=now, within=within)


@batch_task
def publish_decisions(carried: Carried) -> list[dict]:
    rows = (
        [{"outcome": "carried out", **row} for row in carried.done]
        + [{"outcome": "refused now, tried again", **row} for row in carried.failed]
        + [{"outcome": "for ops", **row} for row in carried.for_ops]
    )
    if rows:
        create_table_artifact(
            rows,
            key="cancel-page-decisions",
            description="Decisions members made on the cancel page, and what became of them",
        )
    return rows
