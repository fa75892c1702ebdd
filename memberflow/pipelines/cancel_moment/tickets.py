"""The cancel moment's one message: when a member chose "have someone contact me" (something
broke), a ticket to the business's own people through the ops output, once per subscription and
day, written to the outbox like every touchpoint (so it is sent exactly once)."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from memberflow.core.feedback import REASONS
from memberflow.core.money import format_date
from memberflow.core.schedule import local_date, zone
from memberflow.core.settings import Settings
from memberflow.plugin import (
    SAMPLE_ANCHOR,
    StepInfo,
    TouchpointRow,
    new_touchpoint,
    plan_touchpoint,
    sample_touchpoint,
)

PIPELINE = "cancel_moment"
# the page's one alternative, as experiments name it: a holdout withholds it (no variants)
ALTERNATIVE_STEP = "alternative"


@dataclass(frozen=True)
class TicketStep:
    name: str = "contact"
    lateness_hours: int = 7 * 24

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{PIPELINE}/{self.name}"


CONTACT = TicketStep()


def plan_contact(
    conn: Connection, *, subscription_id: int, decided_at: datetime, now: datetime, context: dict
) -> None:
    """The ticket for a member who asked for a person (a rerun plans nothing twice)."""
    plan_touchpoint(
        conn,
        new_touchpoint(
            pipeline=PIPELINE,
            step=CONTACT.name,
            entity=str(subscription_id),
            channel="email",
            subscription_id=subscription_id,
            anchor_at=decided_at,
            tz=zone("UTC"),
            due_at=now,
            context=_json(context),
        ),
    )


@dataclass
class TicketPipeline:
    """The engine's view of the cancel moment's tickets for ops."""

    name: str = PIPELINE

    def step_for(self, row: TouchpointRow) -> TicketStep | None:
        return CONTACT if row.step == CONTACT.name else None

    def skip_reason(self, step: TicketStep, row: TouchpointRow) -> str | None:
        return None  # the member asked for a person: that stands whatever happens since

    def fields(self, step: TicketStep, row: TouchpointRow, settings: Settings) -> dict:
        return ticket_fields(row, settings)

    def recipient(self, row: TouchpointRow, fields: dict) -> tuple[str, str]:
        return fields["support_email"], f"{fields['business_name']} support"


def ticket_fields(row: TouchpointRow, settings: Settings) -> dict:
    context = row.context
    decided = datetime.fromisoformat(context["decided_at"])
    return {
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "email": row.email,
        "member_external_id": row.member_external_id,
        "product_name": row.product_name,
        "subscription_number": row.sub_external_id,
        "reason": context.get("reason") or "none given",
        "comment": context.get("comment") or "",
        "decided_date": format_date(local_date(decided, zone("UTC")), settings.default_locale),
        "support_email": settings.support_email,
        "business_name": settings.business_name,
    }


def sample_fields(settings: Settings) -> dict[str, dict]:
    row = sample_touchpoint(
        key=f"{PIPELINE}:contact:1:2026-12-01:email",
        step=CONTACT.name,
        context={
            "reason": REASONS[4],
            "comment": "The app logs me out every day",
            "decided_at": SAMPLE_ANCHOR.isoformat(),
        },
    )
    return {CONTACT.template_name: ticket_fields(row, settings)}


def step_infos() -> list[StepInfo]:
    return [
        StepInfo(
            ALTERNATIVE_STEP,
            "on the cancel page, for the reason the member gave (an experiment may hold it out)",
            "member (the page)",
            "",
        ),
        StepInfo(
            CONTACT.name,
            "when a member asks for a person on the cancel page",
            "ops",
            CONTACT.template_name,
        ),
    ]


def _json(value: Any) -> str:
    return json.dumps(value)
