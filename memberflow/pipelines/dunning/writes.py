"""A dunning case's writes, shared by the stepper (advance.py) and its endings (endings.py):
close the case with its outcome, and plan one of its messages to the member or to ops."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, update

from memberflow.core.dunning_models import CaseOutcome, CaseStatus
from memberflow.core.schedule import zone
from memberflow.pipelines.dunning.queries import case
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE
from memberflow.plugin import new_touchpoint, plan_touchpoint, skip_unsent


@dataclass
class Channels:
    """The channels of the two outputs, part of every message's idempotency key."""

    member: str = "email"
    ops: str = "email"


class CaseWrites:
    """Writes for the cases of one run at `as_of`, through the run's two channels."""

    def __init__(self, as_of: datetime, channels: Channels):
        self.as_of, self.channels = as_of, channels

    def close(
        self,
        conn: Connection,
        row: Row,
        outcome: CaseOutcome,
        *,
        recovered_by: str | None = None,
        recovered: bool = False,
        **more: Any,
    ) -> None:
        """Closes the case with its outcome (and `more` of its columns, in the same UPDATE)."""
        conn.execute(
            update(case)
            .where(case.c.id == row.id)
            .values(
                status=CaseStatus.closed,
                outcome=outcome,
                closed_at=self.as_of,
                recovered_by=recovered_by,
                recovered_minor=row.amount_minor if recovered else 0,
                next_retry_at=None,
                **more,
            )
        )
        # what was planned and not sent yet no longer applies (the send-time check agrees)
        skip_unsent(
            conn,
            pipeline=MEMBER_PIPELINE,
            invoice_id=row.invoice_id,
            reason=f"case closed: {outcome.value}",
        )

    def plan(
        self,
        conn: Connection,
        row: Row,
        pipeline: str,
        step: str,
        *,
        due_at: datetime,
        context: dict,
        entity: str | None = None,
    ) -> None:
        plan = new_touchpoint(
            pipeline=pipeline,
            step=step,
            entity=entity or row.invoice_external_id,
            channel=self.channels.member if pipeline == MEMBER_PIPELINE else self.channels.ops,
            subscription_id=row.subscription_id,
            anchor_at=row.opened_at,
            tz=zone(row.time_zone),
            due_at=due_at,
            invoice_id=row.invoice_id,
            context=json.dumps(context),
        )
        plan_touchpoint(conn, plan)
