"""Cancellation follow-up as the engine sees it: which step a touchpoint is, whether it still
applies when it is due (never once the member is back), what it says, and to whom."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, type_coerce

from memberflow.core.db import UTCDateTime
from memberflow.core.locales import offer_description
from memberflow.core.members import member_recipient
from memberflow.core.models import Touchpoint
from memberflow.core.money import format_date, format_money
from memberflow.core.schedule import local_date, zone
from memberflow.core.settings import Settings
from memberflow.pipelines.cancellations.records import LIVE, cancellation, subscription
from memberflow.pipelines.cancellations.returns import came_back_elsewhere
from memberflow.pipelines.cancellations.steps import (
    DEFAULT_STEPS,
    PIPELINE,
    CancellationStep,
    offer_expires_on,
)
from memberflow.plugin import (
    SAMPLE_ANCHOR,
    StepInfo,
    TouchpointRow,
    last_bill_notice,
    sample_touchpoint,
)

touchpoint = Touchpoint.__table__
TOLD_WITHIN = timedelta(days=3)  # a notice about a failed bill this recent already said it


@dataclass
class CancellationPipeline:
    """The steps in force: the defaults, and whole replacements for some products."""

    steps: list[CancellationStep] = field(default_factory=lambda: list(DEFAULT_STEPS))
    product_steps: dict[str, list[CancellationStep]] = field(default_factory=dict)
    name: str = PIPELINE

    def steps_for(self, product_external_id: str) -> list[CancellationStep]:
        return self.product_steps.get(product_external_id, self.steps)

    def step_for(self, row: TouchpointRow) -> CancellationStep | None:
        steps = self.steps_for(row.product_external_id)
        return next((step for step in steps if step.name == row.step), None)

    def extend_claim(self, query: Select) -> Select:
        """The cancellation the touchpoint is about (joined on its moment, the anchor), and
        whether the member is back in any way."""
        told = last_bill_notice(touchpoint.c.subscription_id, touchpoint.c.anchor_at)
        return query.outerjoin(
            cancellation,
            and_(
                cancellation.c.subscription_id == touchpoint.c.subscription_id,
                cancellation.c.canceled_at == touchpoint.c.anchor_at,
            ),
        ).add_columns(
            cancellation.c.access_end,
            cancellation.c.involuntary,
            cancellation.c.returned_at,
            subscription.c.cancel_at_period_end,
            came_back_elsewhere(
                touchpoint.c.anchor_at, subscription.c.id, subscription.c.member_id
            ).label("back_elsewhere"),
            type_coerce(told, UTCDateTime()).label("last_bill_notice_at"),
        )

    def skip_reason(self, step: CancellationStep, row: TouchpointRow) -> str | None:
        extra = row.extra
        if extra.get("returned_at") is not None or extra.get("back_elsewhere"):
            return "the member came back"
        if row.status in LIVE and not extra.get("cancel_at_period_end"):
            return "the member came back (the subscription is live again)"
        told = extra.get("last_bill_notice_at")
        if step.audience == "involuntary" and told and told > row.anchor_at - TOLD_WITHIN:
            return "the member was just told about the failed payment"
        return None

    def fields(self, step: CancellationStep, row: TouchpointRow, settings: Settings) -> dict:
        return message_fields(row, settings)

    def recipient(self, row: TouchpointRow, fields: dict) -> tuple[str, str]:
        return member_recipient(row)


def message_fields(row: TouchpointRow, settings: Settings) -> dict:
    """Everything a cancellation template may use, in the member's language and time zone."""
    locale = row.locale or settings.default_locale
    tz = zone(row.time_zone)
    end = row.extra.get("access_end") or row.anchor_at
    offer = row.context.get("offer")
    if offer and offer.get("code"):
        # planned with its date; an experiment's offer counts its days from the message's
        expires_on = (
            offer.get("expires_on")
            or offer_expires_on(row.due_at, tz, offer.get("valid_days")).isoformat()
        )
        expires = format_date(date.fromisoformat(expires_on), locale)
        offer = {**offer, "expires_on": expires, "description": offer_description(offer, locale)}
    else:  # no offer, or the member's own code could never be made: a plain win-back
        offer = None
    return {
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "email": row.email,
        "product_name": row.product_name,
        "amount": format_money(row.amount_minor, row.currency, locale),
        "access_end": format_date(local_date(end, tz), locale),
        "access_continues": end > row.due_at,
        "involuntary": bool(row.extra.get("involuntary")),
        "come_back_url": settings.portal_url,
        "restore_url": settings.portal_url,
        "value_amplifier": row.value_amplifier,
        "offer": offer,
        # while access lasts, a pause may suit them better than leaving (products with a page)
        "pause_url": row.context.get("pause_url") if end > row.due_at else None,
    }


def sample_row(**overrides: Any) -> TouchpointRow:
    extra = {"access_end": SAMPLE_ANCHOR + timedelta(days=20), "involuntary": False}
    return sample_touchpoint(
        **{"extra": {**extra, **overrides.pop("extra", {})}, "status": "canceled", **overrides}
    )


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields for each template, for `templates lint` and previews."""
    offer = {
        "code": "COMEBACK",
        "description": "a free month",
        "descriptions": {"fr": "un mois offert", "es": "un mes gratis", "de": "einen Gratismonat"},
        "expires_on": "2027-01-15",
    }
    pause = {"pause_url": "https://example.com/account/pause"}
    fields = {
        step.template_name: message_fields(
            sample_row(context={"offer": offer} if step.offer else pause if step.pause else {}),
            settings,
        )
        for step in DEFAULT_STEPS
    }
    for step in DEFAULT_STEPS:
        if step.kind == "marketing":
            fields[step.template_name]["unsubscribe_url"] = f"{settings.public_url}/unsubscribe/x"
    return fields


def step_infos() -> list[StepInfo]:
    return [
        StepInfo(step.name, step.describe(), f"member ({step.kind})", step.template_name)
        for step in DEFAULT_STEPS
    ]
