"""What a pipeline gives the touchpoint engine, and the rows the engine hands back to it.

Every pipeline is a `Pipeline`: the engine delivers its touchpoints. A pipeline whose touchpoints
fall at dates of a subscription (a renewal, a trial end) is also a `DatePlanner`, and the engine
plans them too; others (dunning) plan their own touchpoints and only use delivery.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select

from memberflow.core.settings import Settings
from memberflow.messaging.store import Selection

Recipient = tuple[str, str]  # (email, display name)
LinkMaker = Callable[..., str]  # (member external id, purpose, data=None) -> signed URL


@dataclass(frozen=True, slots=True)
class TouchpointRow:
    """One touchpoint with its subscription, member and product as they are now.

    What the engine claims (or a dry run or a preview stands in for) and what a pipeline reads to
    decide, fill in and address a message. `extra` holds the columns a pipeline added to the
    claim (`Pipeline.extend_claim`); `context` is what the pipeline stored when it planned it.
    """

    touchpoint_id: int
    key: str
    step: str
    anchor_at: datetime
    due_at: datetime
    attempts: int
    context: dict[str, Any]
    sub_id: int
    sub_external_id: str
    status: str
    interval: str
    current_period_end: datetime | None
    trial_end: datetime | None
    card_exp_month: int | None
    card_exp_year: int | None
    card_valid_until: date | None
    time_zone: str | None
    amount_minor: int
    currency: str
    card_last4: str | None
    member_external_id: str
    email: str
    first_name: str | None
    last_name: str | None
    locale: str | None
    billing_address: str | None
    shipping_address: str | None
    product_external_id: str
    product_name: str
    value_amplifier: str | None
    member_id: int | None = None
    pause_resumes_at: datetime | None = None  # collection paused until then
    marketing_consent: bool = False
    unsubscribed_at: datetime | None = None
    erased_at: datetime | None = None
    email_problem: str | None = None
    product_locale: str | None = None
    product_translations: dict[str, Any] | None = None
    last_error: str | None = None  # why an earlier run did not send it (the cap held it...)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> "TouchpointRow":
        """From a claimed row's columns: known ones become fields, the rest go to `extra`."""
        known = {name: values[name] for name in _FIELD_NAMES if name in values}
        context = known.get("context")
        known["context"] = json.loads(context) if isinstance(context, str) else (context or {})
        words = known.get("product_translations")
        if isinstance(words, str):
            known["product_translations"] = json.loads(words)
        extra = {name: value for name, value in values.items() if name not in _FIELD_NAMES}
        return cls(**known, extra=extra)


_FIELD_NAMES = frozenset(f.name for f in fields(TouchpointRow)) - {"extra"}


# What `anchor_for` reads: planning's narrow row of a subscription, or, at send time, a claimed
# touchpoint. Both carry the subscription's anchors, status and member's zone by name.
SubscriptionRow = Row | TouchpointRow


class Step(Protocol):
    """One kind of message of a pipeline."""

    name: str

    @property
    def lateness(self) -> timedelta:
        """How late it may still be sent; later, it is recorded as expired."""
        ...

    @property
    def template_name(self) -> str:
        """`<pipeline>/<template>`: the folder under templates/."""
        ...


@dataclass(frozen=True)
class StepInfo:
    """A step as ops see it in `memberflow pipelines`."""

    name: str
    when: str
    audience: str
    template: str  # "" for a step that sends no message (the cancel page's alternative)


@runtime_checkable
class Pipeline(Protocol):
    """What every pipeline must give the engine so it can deliver the pipeline's touchpoints."""

    name: str

    def step_for(self, row: TouchpointRow) -> Step | None:
        """The step `row.step` names, as configured for this row's product (None if gone)."""
        ...

    def skip_reason(self, step: Step, row: TouchpointRow) -> str | None:
        """Checked at send time: None when the message still applies, else why not."""
        ...

    def fields(self, step: Step, row: TouchpointRow, settings: Settings) -> dict:
        """The merge fields of the message, formatted for the member's locale."""
        ...

    def recipient(self, row: TouchpointRow, fields: dict) -> Recipient:
        """Who the message goes to: the member, or the business's own people."""
        ...


@dataclass(frozen=True)
class PlanningWindow:
    """What one planning pass accounts for: the touchpoints due up to `as_of` since `since`, the
    pipeline's last completed pass (its watermark), which `DatePlanner.selections` is given."""

    as_of: datetime
    since: datetime

    def start(self, step: Step) -> datetime:
        """The earliest due time this pass accounts for for `step`: everything since the last
        completed pass, and at least the step's lateness (a subscription imported or moved
        since may owe a touchpoint that is late but still worth sending)."""
        return min(self.since, self.as_of - step.lateness)


@runtime_checkable
class DatePlanner(Protocol):
    """A pipeline the engine also plans: its touchpoints fall at dates of a subscription."""

    name: str

    def selections(self, window: PlanningWindow) -> list[tuple[Step, Selection]]:
        """For each step, the subscriptions that may owe a touchpoint due in the window
        (from `window.start(step)` to `window.as_of`)."""
        ...

    def anchor_for(self, step: Step, row: SubscriptionRow) -> datetime | None:
        """The date the step counts from for this subscription, or None if it does not apply."""
        ...

    def due(self, step: Step, anchor: datetime, tz: ZoneInfo) -> datetime:
        """When the step's touchpoint falls due for an anchor."""
        ...


class ExtendsPlan(Protocol):
    """A date planner whose `anchor_for` needs more than planning's narrow read of a
    subscription (its anchors, status and zone): its own table's column, say."""

    def extend_plan(self, query: Select) -> Select:
        """Adds joins and labelled columns to planning's read; `anchor_for` sees them on the
        row. Keep it narrow: planning reads every candidate."""
        ...


class ExtendsClaim(Protocol):
    """A pipeline whose send-time check or fields need more than the subscription's columns."""

    def extend_claim(self, query: Select) -> Select:
        """Adds joins and labelled columns to the claim query; they arrive in `row.extra`."""
        ...


@runtime_checkable
class SignsLinks(Protocol):
    """A pipeline whose messages carry signed links of its own (a survey's one-click answers)."""

    def signed_fields(self, step: Step, row: TouchpointRow, link: LinkMaker) -> dict:
        """Merge fields holding links made by `link(member_external_id, purpose, data)`."""
        ...
