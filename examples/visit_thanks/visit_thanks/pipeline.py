"""What the engine asks of the pipeline: which visits owe a thank-you, when, and what it says.
Plain Python over rows: no Prefect, no SQL beyond the join planning needs."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select

from memberflow.plugin import (
    PlanningWindow,
    Recipient,
    Selection,
    StepInfo,
    TouchpointRow,
    member_recipient,
)
from visit_thanks.visits import subscription, visit

NAME = "visits"
MEMBERS = ("active", "trialing", "past_due")


@dataclass(frozen=True)
class Thanks:
    name: str = "thanks_1d"
    lateness: timedelta = timedelta(hours=24)  # a thank-you two days late is worse than none
    template_name: str = "visits/thanks"


STEPS = [StepInfo("thanks_1d", "1 day after a visit", "member", "visits/thanks")]


@dataclass
class VisitThanks:
    name: str = NAME

    def selections(self, window: PlanningWindow) -> list[tuple[Thanks, Selection]]:
        step = Thanks()
        # due a day after the visit: the visits of (window start - 1 day, as_of - 1 day]
        low = window.start(step) - timedelta(days=1)
        return [(step, Selection(visit.c.visited_at, low, window.as_of - timedelta(days=1)))]

    def extend_plan(self, query: Select) -> Select:
        """Planning reads the visit beside the subscription (its column is the selection's)."""
        return query.join(visit, visit.c.subscription_id == subscription.c.id).add_columns(
            visit.c.visited_at
        )

    def anchor_for(self, step: Thanks, row: Row) -> datetime | None:
        return row.visited_at if row.status in MEMBERS else None

    def due(self, step: Thanks, anchor: datetime, tz: ZoneInfo) -> datetime:
        return anchor + timedelta(days=1)

    def step_for(self, row: TouchpointRow) -> Thanks | None:
        return Thanks() if row.step == "thanks_1d" else None

    def skip_reason(self, step: Thanks, row: TouchpointRow) -> str | None:
        return None if row.status in MEMBERS else f"no longer a member ({row.status})"

    def fields(self, step: Thanks, row: TouchpointRow, settings: object) -> dict:
        return {"first_name": row.first_name or "", "product_name": row.product_name}

    def recipient(self, row: TouchpointRow, fields: dict) -> Recipient:
        return member_recipient(row)


def sample_fields(settings: object) -> dict[str, dict]:
    return {"visits/thanks": {"first_name": "Ada", "product_name": "Climbing Club"}}
