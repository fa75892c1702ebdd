"""The reminder steps: which date each counts back from, when it falls due, and which
subscriptions a run must read for it. Pure: no database, no Prefect."""

from datetime import datetime, timedelta
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from memberflow.core.schedule import card_valid_until, due_at, local_date, midday, zone
from memberflow.plugin import PlanningWindow, Selection, SubscriptionRow

PIPELINE = "reminders"
LIVE = ("active", "trialing")


class ReminderStep(BaseModel):
    """One reminder: which date it anchors on and how many days before it goes out."""

    name: str = Field(description="Unique step name; part of every idempotency key.")
    anchor: Literal["renewal", "trial_end", "card_expiry", "pause_end"] = Field(
        description="The date the reminder counts back from."
    )
    days_before: int = Field(ge=0, le=365, description="Calendar days before the anchor date.")
    intervals: list[Literal["month", "year"]] = Field(
        default=["month", "year"], description="Billing intervals the step applies to."
    )
    local_hour: int = Field(9, ge=0, le=23, description="Hour of day in the member's time zone.")
    lateness_hours: int = Field(48, ge=0, description="How late it may still be sent.")
    template: str | None = Field(None, description="Template folder; defaults to the anchor.")
    # about the member's own billing: no consent needed (a class constant, not a parameter)
    kind: ClassVar[str] = "transactional"

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{PIPELINE}/{self.template or self.anchor}"

    def due(self, anchor: datetime, tz: ZoneInfo) -> datetime:
        return due_at(anchor, self.days_before, tz, self.local_hour)

    def describe(self) -> str:
        """When it goes out, in words, for `memberflow pipelines`."""
        anchor = self.anchor.replace("_", " ")
        intervals = "" if len(self.intervals) == 2 else f" ({', '.join(self.intervals)}ly plans)"
        return f"{self.days_before} days before {anchor}, {self.local_hour:02d}:00 local{intervals}"


DEFAULT_STEPS: list[ReminderStep] = [
    ReminderStep(name="renewal_7d", anchor="renewal", days_before=7),
    ReminderStep(name="renewal_30d", anchor="renewal", days_before=30, intervals=["year"]),
    ReminderStep(name="trial_end_3d", anchor="trial_end", days_before=3),
    # a card notice stays true and useful for weeks, unlike "renews in 7 days"
    ReminderStep(
        name="card_expiry_30d", anchor="card_expiry", days_before=30, lateness_hours=21 * 24
    ),
    # a pause chosen on the cancel page (or at the provider) ends: charges start again
    ReminderStep(name="pause_end_7d", anchor="pause_end", days_before=7),
]


def anchor_for(step: ReminderStep, row: SubscriptionRow) -> datetime | None:
    """The anchor moment if `step` applies to this subscription row now, else None.

    Used twice: when planning, and again at send time, so a canceled subscription or a moved
    renewal date gets no reminder for the old date.
    """
    if step.anchor == "pause_end":  # Stripe keeps a paused subscription active
        paused = row.status in (*LIVE, "paused") and row.interval in step.intervals
        return row.pause_resumes_at if paused else None
    if row.status not in LIVE or row.interval not in step.intervals:
        return None
    if step.anchor == "renewal":
        return row.current_period_end if row.status == "active" else None
    if step.anchor == "trial_end":
        return row.trial_end if row.status == "trialing" else None
    return _card_anchor(row)


def _card_anchor(row: SubscriptionRow) -> datetime | None:
    if row.card_exp_month is None or row.card_exp_year is None:
        return None
    tz = zone(row.time_zone)
    last_valid_day = card_valid_until(row.card_exp_month, row.card_exp_year)
    next_charge = row.trial_end if row.status == "trialing" else row.current_period_end
    if next_charge is None or local_date(next_charge, tz) <= last_valid_day:
        return None
    return midday(last_valid_day, tz)


# With d days before at local hour h, a touchpoint due at `due` has its anchor in
# [due + d - h, due + d - h + 24 h) in any zone: the local date truncates by under a day and the
# zone offset cancels out. A daylight-saving change between anchor and due shifts it by at most
# DST_SLACK. The SQL window is that range; the exact test happens in Python.
DST_SLACK = timedelta(hours=2)


def selection_for(step: ReminderStep, window: PlanningWindow, **products) -> Selection:
    """The indexed range of anchors that can hold a touchpoint due in [window start, as_of]."""
    shift = timedelta(days=step.days_before) - timedelta(hours=step.local_hour)
    low = window.start(step) + shift - DST_SLACK
    high = window.as_of + shift + timedelta(days=1) + DST_SLACK
    if step.anchor == "card_expiry":  # anchored at noon local on the card's last day: ±1 day
        day = timedelta(days=1)
        return Selection("card_valid_until", (low - day).date(), (high + day).date(), **products)
    column = {"renewal": "current_period_end", "pause_end": "pause_resumes_at"}.get(
        step.anchor, "trial_end"
    )
    return Selection(column, low, high, **products)
