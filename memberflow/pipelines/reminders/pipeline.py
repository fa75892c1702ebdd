"""The billing-reminder pipeline: which steps exist, when each applies, what its message says."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from memberflow.core.money import format_date, format_money
from memberflow.core.schedule import card_valid_until, due_at, local_date, midday, zone
from memberflow.core.settings import Settings
from memberflow.messaging.store import Selection

PIPELINE = "reminders"


class ReminderStep(BaseModel):
    """One reminder: which date it anchors on and how many days before it goes out."""

    name: str = Field(description="Unique step name; part of every idempotency key.")
    anchor: Literal["renewal", "trial_end", "card_expiry"] = Field(
        description="The date the reminder counts back from."
    )
    days_before: int = Field(ge=0, le=365, description="Calendar days before the anchor date.")
    intervals: list[Literal["month", "year"]] = Field(
        default=["month", "year"], description="Billing intervals the step applies to."
    )
    local_hour: int = Field(9, ge=0, le=23, description="Hour of day in the member's time zone.")
    lateness_hours: int = Field(48, ge=0, description="How late it may still be sent.")
    template: str | None = Field(None, description="Template folder; defaults to the anchor.")

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{PIPELINE}/{self.template or self.anchor}"

    def due(self, anchor: datetime, tz: ZoneInfo) -> datetime:
        return due_at(anchor, self.days_before, tz, self.local_hour)


DEFAULT_STEPS: list[ReminderStep] = [
    ReminderStep(name="renewal_7d", anchor="renewal", days_before=7),
    ReminderStep(name="renewal_30d", anchor="renewal", days_before=30, intervals=["year"]),
    ReminderStep(name="trial_end_3d", anchor="trial_end", days_before=3),
    # a card notice stays true and useful for weeks, unlike "renews in 7 days"
    ReminderStep(
        name="card_expiry_30d", anchor="card_expiry", days_before=30, lateness_hours=21 * 24
    ),
]

LIVE = ("active", "trialing")


def anchor_for(step: ReminderStep, row: Any) -> datetime | None:
    """The anchor moment if `step` applies to this subscription row now, else None.

    Used twice: when planning, and again at send time, so a canceled subscription or a moved
    renewal date gets no reminder for the old date.
    """
    if row.status not in LIVE or row.interval not in step.intervals:
        return None
    if step.anchor == "renewal":
        return row.current_period_end if row.status == "active" else None
    if step.anchor == "trial_end":
        return row.trial_end if row.status == "trialing" else None
    return _card_anchor(row)


def _card_anchor(row: Any) -> datetime | None:
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


def selection_for(
    step: ReminderStep, as_of: datetime, lookback: timedelta, **products
) -> Selection:
    """The indexed range of anchors that can hold a touchpoint due in (as_of - lookback, as_of]."""
    shift = timedelta(days=step.days_before) - timedelta(hours=step.local_hour)
    low = as_of - max(lookback, step.lateness) + shift - DST_SLACK
    high = as_of + shift + timedelta(days=1) + DST_SLACK
    if step.anchor == "card_expiry":  # anchored at noon local on the card's last day: ±1 day
        day = timedelta(days=1)
        return Selection("card_valid_until", (low - day).date(), (high + day).date(), **products)
    column = "current_period_end" if step.anchor == "renewal" else "trial_end"
    return Selection(column, low, high, **products)


@dataclass
class ReminderPipeline:
    """The reminder steps in force: the defaults, and whole replacements for some products."""

    steps: list[ReminderStep] = field(default_factory=lambda: list(DEFAULT_STEPS))
    product_steps: dict[str, list[ReminderStep]] = field(default_factory=dict)
    name: str = PIPELINE

    def selections(
        self, as_of: datetime, lookback: timedelta
    ) -> list[tuple[ReminderStep, Selection]]:
        overridden = sorted(self.product_steps)
        chosen = [
            (step, selection_for(step, as_of, lookback, excluded_products=overridden))
            for step in self.steps
        ]
        for product, steps in sorted(self.product_steps.items()):
            chosen += [
                (step, selection_for(step, as_of, lookback, products=[product])) for step in steps
            ]
        return chosen

    def step_for(self, row: Any, step_name: str) -> ReminderStep | None:
        steps = self.product_steps.get(row.product_external_id, self.steps)
        return next((step for step in steps if step.name == step_name), None)

    def anchor_for(self, step: ReminderStep, row: Any) -> datetime | None:
        return anchor_for(step, row)

    def fields(self, step: ReminderStep, row: Any, anchor: datetime, settings: Settings) -> dict:
        return message_fields(step, row, anchor, settings)

    def recipient(self, row: Any, fields: dict) -> tuple[str, str]:
        return member_recipient(row)


def member_recipient(row: Any) -> tuple[str, str]:
    return row.email, f"{row.first_name} {row.last_name}".strip()


def message_fields(step: ReminderStep, row: Any, anchor: datetime, settings: Settings) -> dict:
    """Everything a reminder template may use, formatted for the member's locale."""
    locale = row.locale or settings.default_locale
    tz = zone(row.time_zone)
    return {
        "business_name": settings.business_name,
        "support_email": settings.support_email,
        "portal_url": settings.portal_url,
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "email": row.email,
        "product_name": row.product_name,
        "interval": row.interval,
        "amount": format_money(row.amount_minor, row.currency, locale),
        "due_date": format_date(local_date(anchor, tz), locale),
        "days_before": step.days_before,
        "subscription_number": row.sub_external_id,
        "billing_address": row.billing_address,
        "shipping_address": row.shipping_address,
        "card_last4": row.card_last4,
        "card_expiry": _card_expiry(row),
        "value_amplifier": row.value_amplifier,
    }


def _card_expiry(row: Any) -> str | None:
    if row.card_exp_month is None or row.card_exp_year is None:
        return None
    return f"{row.card_exp_month:02d}/{row.card_exp_year}"


def sample_row(**overrides: Any) -> SimpleNamespace:
    """A realistic subscription row for template lint and previews."""
    row = {
        "sub_id": 1,
        "sub_external_id": "sub_1001",
        "status": "active",
        "amount_minor": 1999,
        "currency": "USD",
        "interval": "month",
        "current_period_end": datetime(2026, 12, 1, 9, tzinfo=UTC),
        "trial_end": datetime(2026, 12, 1, 9, tzinfo=UTC),
        "card_last4": "4242",
        "card_exp_month": 11,
        "card_exp_year": 2026,
        "member_external_id": "mem_1001",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "locale": "en",
        "time_zone": "Europe/London",
        "billing_address": "12 St James's Square, London",
        "shipping_address": "12 St James's Square, London",
        "product_external_id": "monthly",
        "product_name": "Monthly Club",
        "value_amplifier": "New this month: a live Q&A with the founders.",
    }
    return SimpleNamespace(**{**row, **overrides})


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields per template name, for `memberflow templates lint`."""
    row = sample_row()
    return {
        step.template_name: message_fields(step, row, row.current_period_end, settings)
        for step in DEFAULT_STEPS
    }
