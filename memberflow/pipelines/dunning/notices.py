"""What dunning says, and to whom: the member's emails and the tickets and alerts for ops.

`cases` plans these as touchpoints; the engine sends them. The send-time check is the invoice:
once it is paid, from any source, nothing more about it goes to the member.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from memberflow.core.models import InvoiceStatus
from memberflow.core.money import format_date, format_money
from memberflow.core.schedule import local_date, zone
from memberflow.core.settings import Settings
from memberflow.pipelines.dunning.cases import MEMBER_PIPELINE, OPS_PIPELINE
from memberflow.pipelines.dunning.policy import Category
from memberflow.pipelines.reminders.pipeline import member_recipient


@dataclass(frozen=True)
class NoticeStep:
    """One kind of dunning message. Cases decide when; this says how late and which template."""

    name: str
    pipeline: str
    lateness_hours: int = 48
    after_payment: bool = False  # still worth sending once the invoice is paid

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{self.pipeline}/{self.name}"

    def due(self, anchor: datetime, tz: Any) -> datetime:
        return anchor  # never used: cases plan their touchpoints with the due time


MEMBER_STEPS = {
    step.name: step
    for step in (
        NoticeStep("first_notice", MEMBER_PIPELINE),
        NoticeStep("reminder", MEMBER_PIPELINE),
        NoticeStep("last_notice", MEMBER_PIPELINE),
        NoticeStep("final_notice", MEMBER_PIPELINE, lateness_hours=72),
    )
}
OPS_STEPS = {
    step.name: step
    for step in (
        NoticeStep("escalation", OPS_PIPELINE, lateness_hours=7 * 24),
        NoticeStep("gateway_alert", OPS_PIPELINE, lateness_hours=7 * 24, after_payment=True),
    )
}


@dataclass
class NoticePipeline:
    """The engine's view of dunning's messages: member emails, or ops tickets (`for_ops`)."""

    for_ops: bool = False

    @property
    def name(self) -> str:
        return OPS_PIPELINE if self.for_ops else MEMBER_PIPELINE

    @property
    def steps(self) -> dict[str, NoticeStep]:
        return OPS_STEPS if self.for_ops else MEMBER_STEPS

    def selections(self, as_of: datetime, lookback: timedelta) -> list:
        return []  # cases plan these touchpoints; the engine only delivers them

    def step_for(self, row: Any, step_name: str) -> NoticeStep | None:
        return self.steps.get(step_name)

    def anchor_for(self, step: NoticeStep, row: Any) -> datetime | None:
        """The send-time check: nothing about a bill that has been paid, voided or written off."""
        if row.invoice_status != InvoiceStatus.open and not step.after_payment:
            return None
        return row.anchor_at

    def fields(self, step: NoticeStep, row: Any, anchor: datetime, settings: Settings) -> dict:
        return message_fields(row, settings)

    def recipient(self, row: Any, fields: dict) -> tuple[str, str]:
        if self.for_ops:
            return fields["support_email"], f"{fields['business_name']} support"
        return member_recipient(row)


def message_fields(row: Any, settings: Settings) -> dict:
    """Everything a dunning template may use, in the member's language and time zone."""
    context = json.loads(row.context or "{}")
    locale = row.locale or settings.default_locale
    tz = zone(row.time_zone)

    def day(iso: str | None) -> str | None:
        if not iso:
            return None
        return format_date(local_date(datetime.fromisoformat(iso), tz), locale)

    category = context.get("category", Category.soft.value)
    return {
        "business_name": settings.business_name,
        "support_email": settings.support_email,
        "portal_url": settings.portal_url,
        # the gateway's own payment page where it has one (Stripe's hosted invoice), else ours
        "update_url": row.invoice_hosted_url or settings.portal_url,
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "email": row.email,
        "member_external_id": row.member_external_id,
        "product_name": row.product_name,
        "amount": format_money(row.invoice_amount_minor, row.invoice_currency, locale),
        "invoice_number": row.invoice_external_id,
        "subscription_number": row.sub_external_id,
        "card_last4": row.card_last4,
        "category": category,
        "new_card_needed": category in (Category.needs_member, Category.hard),
        "decline_code": context.get("decline_code"),
        "retries": context.get("retries", 0),
        "next_retry_date": day(context.get("next_retry_at")),
        "final_action": context.get("final_action"),
        "final_action_date": day(context.get("final_action_at")),
        "access_until_date": day(context.get("access_until")),
        "history": context.get("history", []),
        "reason": context.get("reason"),
        "gateway": context.get("gateway"),
        "value_amplifier": None,
    }


def sample_row(**overrides: Any) -> SimpleNamespace:
    """A claimed dunning touchpoint as the engine sees it, for template lint and previews."""
    opened = datetime(2026, 12, 1, 9, tzinfo=UTC)
    row = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "member_external_id": "mem_1001",
        "locale": "en",
        "time_zone": "Europe/London",
        "product_name": "Monthly Club",
        "sub_external_id": "sub_1001",
        "card_last4": "4242",
        "invoice_external_id": "in_1001",
        "invoice_status": "open",
        "invoice_amount_minor": 1999,
        "invoice_currency": "USD",
        "invoice_hosted_url": "https://invoice.stripe.com/i/acct_1/in_1001",
        "anchor_at": opened,
        "context": json.dumps(
            {
                "category": "soft",
                "decline_code": "insufficient_funds",
                "retries": 2,
                "next_retry_at": (opened + timedelta(days=5)).isoformat(),
                "final_action": "cancel",
                "final_action_at": (opened + timedelta(days=8)).isoformat(),
                "access_until": (opened + timedelta(days=15)).isoformat(),
                "history": [
                    {"at": opened.isoformat(), "what": "charge failed: insufficient_funds"},
                ],
                "reason": "Stripe refused the API key (HTTP 401)",
                "gateway": "memberflow-stripe-gateway",
            }
        ),
    }
    return SimpleNamespace(**{**row, **overrides})


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields per template name, for `memberflow templates lint`."""
    fields = message_fields(sample_row(), settings)
    return {step.template_name: fields for step in [*MEMBER_STEPS.values(), *OPS_STEPS.values()]}
