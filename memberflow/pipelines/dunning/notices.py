"""What dunning says, and to whom: the member's emails and the tickets and alerts for ops.

`cases` plans these as touchpoints; the engine sends them. The send-time check is the invoice:
once it is paid, from any source, nothing more about it goes to the member.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select

from memberflow.core.members import member_recipient
from memberflow.core.models import Invoice, InvoiceStatus, Touchpoint
from memberflow.core.money import format_date, format_money
from memberflow.core.schedule import local_date, zone
from memberflow.core.settings import Settings
from memberflow.pipelines.dunning.policy import Category
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE, OPS_PIPELINE
from memberflow.plugin import SAMPLE_ANCHOR, StepInfo, TouchpointRow, sample_touchpoint

invoice, touchpoint = Invoice.__table__, Touchpoint.__table__


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
        NoticeStep("gateway_back", OPS_PIPELINE, lateness_hours=7 * 24, after_payment=True),
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

    @property
    def carries_manage_link(self) -> bool:
        """The member's notices carry the way to cancel; ops tickets do not."""
        return not self.for_ops

    def step_for(self, row: TouchpointRow) -> NoticeStep | None:
        return self.steps.get(row.step)

    def skip_reason(self, step: NoticeStep, row: TouchpointRow) -> str | None:
        """The send-time check: nothing about a bill that has been paid, voided or written off."""
        status = row.extra["invoice_status"]
        if status != InvoiceStatus.open and not step.after_payment:
            return f"no longer applies (the invoice is {status})"
        return None

    def extend_claim(self, query: Select) -> Select:
        """The invoice each notice is about, read at send time."""
        return query.add_columns(
            invoice.c.external_id.label("invoice_external_id"),
            invoice.c.status.label("invoice_status"),
            invoice.c.amount_minor.label("invoice_amount_minor"),
            invoice.c.currency.label("invoice_currency"),
            invoice.c.hosted_url.label("invoice_hosted_url"),
        ).outerjoin(invoice, invoice.c.id == touchpoint.c.invoice_id)

    def fields(self, step: NoticeStep, row: TouchpointRow, settings: Settings) -> dict:
        return message_fields(row, settings)

    def recipient(self, row: TouchpointRow, fields: dict) -> tuple[str, str]:
        if self.for_ops:
            return fields["support_email"], f"{fields['business_name']} support"
        return member_recipient(row)


def message_fields(row: TouchpointRow, settings: Settings) -> dict:
    """Everything a dunning template may use, in the member's language and time zone."""
    context, bill = row.context, row.extra
    locale = row.locale or settings.default_locale
    tz = zone(row.time_zone)

    def day(iso: str | None) -> str | None:
        if not iso:
            return None
        return format_date(local_date(datetime.fromisoformat(iso), tz), locale)

    category = context.get("category", Category.soft.value)
    return {
        # the gateway's own payment page where it has one (Stripe's hosted invoice), else ours
        "update_url": bill["invoice_hosted_url"] or settings.portal_url,
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "email": row.email,
        "member_external_id": row.member_external_id,
        "product_name": row.product_name,
        "amount": format_money(bill["invoice_amount_minor"], bill["invoice_currency"], locale),
        "invoice_number": bill["invoice_external_id"],
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
        "probes": context.get("probes", 0),
    }


def sample_row(**overrides: Any) -> TouchpointRow:
    """A claimed dunning touchpoint as the engine sees it, for template lint and previews."""
    opened = SAMPLE_ANCHOR
    notice = {
        "key": "dunning:first_notice:in_1001:2026-12-01:email",
        "step": "first_notice",
        "status": "past_due",
        "card_exp_year": 2027,
        "billing_address": None,
        "shipping_address": None,
        "context": {
            "category": "soft",
            "decline_code": "insufficient_funds",
            "retries": 2,
            "next_retry_at": (opened + timedelta(days=5)).isoformat(),
            "final_action": "cancel",
            "final_action_at": (opened + timedelta(days=8)).isoformat(),
            "access_until": (opened + timedelta(days=15)).isoformat(),
            "history": [{"at": opened.isoformat(), "what": "charge failed: insufficient_funds"}],
            "reason": "Stripe refused the API key (HTTP 401)",
            "gateway": "memberflow-stripe-gateway",
            "probes": 3,
        },
        "extra": {
            "invoice_external_id": "in_1001",
            "invoice_status": "open",
            "invoice_amount_minor": 1999,
            "invoice_currency": "USD",
            "invoice_hosted_url": "https://invoice.stripe.com/i/acct_1/in_1001",
        },
    }
    return sample_touchpoint(**{**notice, **overrides})


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields per template name, for `memberflow templates lint`."""
    fields = message_fields(sample_row(), settings)
    return {step.template_name: fields for step in [*MEMBER_STEPS.values(), *OPS_STEPS.values()]}


def step_infos() -> list[StepInfo]:
    """The steps as ops see them (`memberflow pipelines`); the policy decides the days."""
    return [
        StepInfo(
            step.name,
            WHEN[step.name],
            "ops" if step.pipeline == OPS_PIPELINE else "member",
            step.template_name,
        )
        for step in [*MEMBER_STEPS.values(), *OPS_STEPS.values()]
    ]


WHEN = {
    "first_notice": "the day a payment fails (policy: notice_days[0])",
    "reminder": "a few days into the case (policy: notice_days[1])",
    "last_notice": "before the final action (policy: notice_days[2])",
    "final_notice": "when the final action is taken (day 8 by default)",
    "escalation": "once per case: a valuable member, or after repeated declines",
    "gateway_alert": "when the payment gateway itself fails",
    "gateway_back": "when a paused case found the gateway answering again",
}
