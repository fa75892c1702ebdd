"""Cancellation follow-up, the pure part: its steps, when each falls due, who gets which, when a
member counts as back, and which message won them back. No database, no Prefect.

The advice it follows: confirm politely at once, with no guilt and no offer; say plainly what
they keep and until when; come back later with a real reason to return; never beg, never pester;
stop the moment they are back.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from memberflow.core.schedule import due_at, local_date

PIPELINE = "cancellations"


class CancellationStep(BaseModel):
    """One message after a cancellation."""

    name: str = Field(description="Unique step name; part of every idempotency key.")
    template: str = Field(description="Template folder under templates/cancellations/.")
    after: Literal["canceled", "access_end"] = Field(
        description="What it counts from: the cancellation itself, or the end of access."
    )
    days_after: int = Field(0, ge=0, le=365, description="Calendar days after that moment.")
    local_hour: int | None = Field(
        None, ge=0, le=23, description="Hour in the member's time zone; empty: at once."
    )
    kind: Literal["transactional", "marketing"] = Field(
        "transactional", description="Marketing needs consent, has an unsubscribe, is capped."
    )
    audience: Literal["voluntary", "involuntary", "any"] = Field(
        "any", description="Members who chose to leave, whose payments failed, or both."
    )
    offer: bool = Field(False, description="Carries the product's offer, when it has one.")
    pause: bool = Field(
        False,
        description="Offers a pause instead, while access has not ended yet, for products that "
        "have a pause page (the flow's pause_urls).",
    )
    lateness_hours: int = Field(48, ge=0, description="How late it may still be sent.")

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{PIPELINE}/{self.template}"

    def applies_to(self, involuntary: bool) -> bool:
        return self.audience == "any" or (self.audience == "involuntary") == involuntary

    def due(self, canceled_at: datetime, access_end: datetime, tz: ZoneInfo) -> datetime:
        start = canceled_at if self.after == "canceled" else access_end
        if self.local_hour is None:
            return start + timedelta(days=self.days_after)
        return due_at(start, -self.days_after, tz, self.local_hour)

    def describe(self) -> str:
        """When it goes out, in words, for `memberflow pipelines`."""
        start = "the cancellation" if self.after == "canceled" else "access ends"
        when = "at once after" if not self.days_after else f"{self.days_after} days after"
        hour = f", {self.local_hour:02d}:00 local" if self.local_hour is not None else ""
        who = "" if self.audience == "any" else f" ({self.audience} only)"
        return f"{when} {start}{hour}{who}"


DEFAULT_STEPS: list[CancellationStep] = [
    CancellationStep(
        name="confirmation",
        template="confirmation",
        after="canceled",
        audience="voluntary",
        pause=True,
    ),
    # failed payments ended it: say so plainly, and offer the one link that restores it
    CancellationStep(name="restore", template="restore", after="canceled", audience="involuntary"),
    CancellationStep(
        name="winback_14d",
        template="winback",
        after="access_end",
        days_after=14,
        local_hour=10,
        kind="marketing",
        offer=True,
        lateness_hours=72,
    ),
    CancellationStep(
        name="door_open_60d",
        template="door_open",
        after="access_end",
        days_after=60,
        local_hour=10,
        kind="marketing",
        lateness_hours=7 * 24,
    ),
]


class Offer(BaseModel):
    """A product's reason to come back, shown in the steps that carry an offer: one code for
    everyone, or a code per member made from a coupon by the offer gateway (Stripe: a
    promotion code for that customer only, expiring with the offer)."""

    code: str | None = Field(None, description="The code everyone enters; or set `coupon`.")
    coupon: str | None = Field(
        None, description="Make a code per member from this coupon (Stripe: a coupon id)."
    )
    description: str = Field(description="What it gives, in the member's words: 'a free month'.")
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="The same in other languages: {'fr': 'un mois offert'}."
    )
    valid_days: int = Field(30, ge=1, description="How long the code works after the message.")

    @model_validator(mode="after")
    def _one_kind_of_code(self) -> "Offer":
        if bool(self.code) == bool(self.coupon):
            raise ValueError("an offer needs either `code` (one for everyone) or `coupon`")
        return self


def offer_expires_on(due: datetime, tz: ZoneInfo, valid_days: int | None = None) -> date:
    """The last day an offer's code works: `valid_days` (the Offer's default if not given)
    after the member's date of the message that carries it."""
    days = valid_days if valid_days is not None else Offer.model_fields["valid_days"].default
    return local_date(due, tz) + timedelta(days=days)


@dataclass(frozen=True)
class Leaving:
    """What the follow-up needs to know of one cancellation."""

    canceled_at: datetime
    access_end: datetime
    involuntary: bool


def access_end(
    status: str,
    canceled_at: datetime,
    period_end: datetime | None,
    ended_at: datetime | None = None,
) -> datetime:
    """When access ends: when the provider says it ended, if it says; the period's end for a
    cancellation at period end; for one already effective, when it took effect (never later
    than the period's end)."""
    if status == "canceled" and ended_at is not None:
        return max(ended_at, canceled_at)
    if period_end is None:
        return canceled_at
    if status != "canceled":
        return max(period_end, canceled_at)
    return min(canceled_at, period_end)


def steps_due(
    steps: list[CancellationStep], leaving: Leaving, tz: ZoneInfo
) -> list[tuple[CancellationStep, datetime]]:
    """The steps this cancellation gets, each with when it falls due."""
    return [
        (step, step.due(leaving.canceled_at, leaving.access_end, tz))
        for step in steps
        if step.applies_to(leaving.involuntary)
    ]


def won_back_by(
    sent: list[tuple[datetime, str]], returned_at: datetime, window: timedelta
) -> str | None:
    """The last marketing message (its key) sent before the return and within `window` of it:
    the one the comeback is credited to. `sent` holds (sent at, key) pairs."""
    eligible = [(when, key) for when, key in sent if returned_at - window <= when <= returned_at]
    return max(eligible)[1] if eligible else None
