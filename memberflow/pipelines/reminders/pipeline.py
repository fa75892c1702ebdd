"""The billing-reminder pipeline as the engine sees it: its steps per product, what a reminder
says, and to whom."""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from memberflow.core.links import link_secret, member_link
from memberflow.core.locales import product_words
from memberflow.core.members import member_recipient
from memberflow.core.money import format_date, format_money
from memberflow.core.schedule import local_date, zone
from memberflow.core.settings import Settings
from memberflow.pipelines.reminders.steps import (
    DEFAULT_STEPS,
    PIPELINE,
    ReminderStep,
    anchor_for,
    selection_for,
)
from memberflow.plugin import (
    MANAGE_LINK,
    SAMPLE_ANCHOR,
    PlanningWindow,
    Selection,
    StepInfo,
    SubscriptionRow,
    TouchpointRow,
    member_subscription_rows,
    sample_touchpoint,
)


@dataclass
class ReminderPipeline:
    """The reminder steps in force: the defaults, and whole replacements for some products."""

    steps: list[ReminderStep] = field(default_factory=lambda: list(DEFAULT_STEPS))
    product_steps: dict[str, list[ReminderStep]] = field(default_factory=dict)
    name: str = PIPELINE
    # every billing reminder carries the way to cancel (California asks it of trial-end and
    # annual-renewal notices; memberflow gives it in all)
    carries_manage_link: bool = True

    def selections(self, window: PlanningWindow) -> list[tuple[ReminderStep, Selection]]:
        overridden = sorted(self.product_steps)
        chosen = [
            (step, selection_for(step, window, excluded_products=overridden)) for step in self.steps
        ]
        for product, steps in sorted(self.product_steps.items()):
            chosen += [(step, selection_for(step, window, products=[product])) for step in steps]
        return chosen

    def anchor_for(self, step: ReminderStep, row: SubscriptionRow) -> datetime | None:
        return anchor_for(step, row)

    def due(self, step: ReminderStep, anchor: datetime, tz: ZoneInfo) -> datetime:
        return step.due(anchor, tz)

    def step_for(self, row: TouchpointRow) -> ReminderStep | None:
        steps = self.product_steps.get(row.product_external_id, self.steps)
        return next((step for step in steps if step.name == row.step), None)

    def skip_reason(self, step: ReminderStep, row: TouchpointRow) -> str | None:
        if anchor_for(step, row) != row.anchor_at:
            return "no longer applies (subscription canceled or its date moved)"
        return None

    def fields(self, step: ReminderStep, row: TouchpointRow, settings: Settings) -> dict:
        return message_fields(step, row, row.anchor_at, settings)

    def recipient(self, row: TouchpointRow, fields: dict) -> tuple[str, str]:
        return member_recipient(row)


def message_fields(
    step: ReminderStep, row: Any, anchor: datetime, settings: Settings, locale: str | None = None
) -> dict:
    """Everything a reminder template may use, formatted for `locale`, by default the
    member's (a message is written in one language, its dates and amounts too)."""
    locale = locale or row.locale or settings.default_locale
    tz = zone(row.time_zone)
    return {
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


def step_infos() -> list[StepInfo]:
    return [
        StepInfo(step.name, step.describe(), "member", step.template_name) for step in DEFAULT_STEPS
    ]


def sample_row(**overrides: Any) -> TouchpointRow:
    """A realistic reminder touchpoint, for template lint, previews and tests."""
    period_end = overrides.get("current_period_end", SAMPLE_ANCHOR)
    reminder = {
        "key": "reminders:renewal_7d:sub_1001:2026-12-01:email",
        "step": "renewal_7d",
        "anchor_at": period_end,
        "due_at": period_end - timedelta(days=7),
        "current_period_end": period_end,
        "trial_end": SAMPLE_ANCHOR,
        "value_amplifier": "New this month: a live Q&A with the founders.",
    }
    return sample_touchpoint(**{**reminder, **overrides})


SAMPLE_AMPLIFIER = {
    "fr": {"value_amplifier": "Nouveau ce mois-ci : une séance de questions en direct."},
    "es": {"value_amplifier": "Novedad este mes: una sesión de preguntas en directo."},
    "de": {"value_amplifier": "Neu diesen Monat: eine Live-Fragestunde mit den Gründern."},
}


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields per template name, for `memberflow templates lint` and previews, with the
    product's words in the settings' language as a real run would give them."""
    row = sample_row()
    name, amplifier = product_words(
        settings.default_locale,
        name=row.product_name,
        value_amplifier=row.value_amplifier,
        written_in="en",
        translations=SAMPLE_AMPLIFIER,
    )
    row = replace(row, product_name=name, value_amplifier=amplifier)
    # every reminder carries the way to cancel: the engine signs it per member and subscription
    manage = {"manage_url": f"{settings.public_url.rstrip('/')}/{MANAGE_LINK}/sample-link"}
    return {
        step.template_name: message_fields(step, row, row.current_period_end, settings) | manage
        for step in DEFAULT_STEPS
    }


def member_fields(
    conn: Connection, member: str, template: str, settings: Settings, locale: str | None = None
) -> tuple[dict, str | None] | None:
    """A real member's fields for a reminder template (`templates preview --member`), and their
    locale; formatted for `locale` when the preview asks for another language."""
    step = next((s for s in DEFAULT_STEPS if s.template_name == template), None)
    rows = member_subscription_rows(conn, member)
    if step is None or not rows:
        return None
    row = rows[0]
    anchor = anchor_for(step, row) or row.current_period_end
    data = {"s": row.sub_external_id}  # their own cancel link, as the engine signs it
    manage = member_link(
        link_secret(conn, settings), settings, member, MANAGE_LINK, datetime.now(UTC), data
    )
    fields = message_fields(step, row, anchor, settings, locale) | {"manage_url": manage}
    return fields, row.locale
