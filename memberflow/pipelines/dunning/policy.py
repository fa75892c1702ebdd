"""The dunning policy: plain functions over a table-driven config, no database, no Prefect.

A case's schedule counts in local days from the failure (day 0): retries on `retry_days` (and on
paydays, if asked) at `retry_local_hour`, notices on `notice_days`, the final action on
`final_action_day`. What may be retried depends on why the card was declined.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from memberflow.core.dunning_models import CaseStatus
from memberflow.core.schedule import local_date


class Category(StrEnum):
    soft = "soft"  # the bank may say yes later: retry on a schedule
    needs_member = "needs_member"  # this card will not work until the member acts
    hard = "hard"  # never charge this card again
    gateway = "gateway"  # our side failed (credentials, outage): tell ops, not the member


# Stripe's decline codes (https://docs.stripe.com/declines/codes); other providers' codes map
# onto these in the ingress. A code not listed is soft, like Stripe's `generic_decline`.
NEEDS_MEMBER = frozenset(
    {
        "expired_card",
        "incorrect_cvc",
        "invalid_cvc",
        "incorrect_number",
        "invalid_number",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "authentication_required",
        "card_not_supported",
        "currency_not_supported",
        "invalid_account",
        "new_account_information_available",
        "no_payment_method",
    }
)
HARD = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "fraudulent",
        "merchant_blacklist",
        "security_violation",
        "do_not_try_again",
        "do_not_honor_permanently",
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)
GATEWAY = frozenset({"gateway_error", "authentication_error", "api_error", "permission_error"})
# Stripe's `advice_code` overrides the decline code when present.
ADVICE = {
    "do_not_try_again": Category.hard,
    "confirm_card_data": Category.needs_member,
    "try_again_later": Category.soft,
}


def categorize(decline_code: str | None, advice_code: str | None = None) -> Category:
    """Which kind of failure a decline is, from the provider's decline and advice codes."""
    if advice_code in ADVICE:
        return ADVICE[advice_code]
    code = (decline_code or "").lower()
    if code in HARD:
        return Category.hard
    if code in NEEDS_MEMBER:
        return Category.needs_member
    if code in GATEWAY:
        return Category.gateway
    return Category.soft


class FinalAction(StrEnum):
    cancel = "cancel"
    pause = "pause"
    unpaid = "unpaid"  # keep access for `unpaid_access_days`, then the provider's own rules


NOTICES = ("first_notice", "reminder", "last_notice")


class ProductDunning(BaseModel):
    """How dunning ends for one product."""

    final_action: FinalAction = Field(description="What happens when retries run out.")
    unpaid_access_days: int = Field(7, ge=0, le=90, description="Access kept when unpaid.")
    apply_at_gateway: bool = Field(
        False,
        description="Also cancel, pause or mark unpaid at the provider, through the gateway "
        "Block (Stripe: cancel the subscription, pause its collection, or mark the invoice "
        "uncollectible).",
    )


class DunningPolicy(BaseModel):
    """The whole recovery schedule. Every field is a flow parameter, editable in the UI."""

    retry_days: list[int] = Field(
        [1, 3, 5, 7], description="Days after the failure to retry a soft decline."
    )
    retry_local_hour: int = Field(10, ge=0, le=23, description="Hour of a retry, member's time.")
    paydays: list[int] = Field(
        [], description="Days of the month (e.g. 1 and 15) to retry soft declines on as well."
    )
    notice_days: dict[Literal["first_notice", "reminder", "last_notice"], int] = Field(
        {"first_notice": 0, "reminder": 3, "last_notice": 6},
        description="Day of each member email (0 is sent at once).",
    )
    notice_local_hour: int = Field(9, ge=0, le=23, description="Hour of a later notice.")
    notice_lateness_hours: int = Field(48, ge=1, description="How late a notice may be sent.")
    final_action_day: int = Field(8, ge=1, le=60, description="Day retries give up.")
    final_action: FinalAction = Field(FinalAction.cancel, description="The default final action.")
    unpaid_access_days: int = Field(7, ge=0, le=90, description="Access kept when unpaid.")
    apply_at_gateway: bool = Field(
        False, description="Apply the final action at the provider too (see the product setting)."
    )
    products: dict[str, ProductDunning] = Field(
        {}, description="Final action per product external id."
    )
    max_attempts: int = Field(8, ge=0, description="Retries of one invoice, at most.")
    max_card_attempts_30d: int = Field(15, ge=1, description="Charges of one card in 30 days.")
    escalate_after_failed_retries: int = Field(
        2, ge=1, description="Hand the case to a person after this many failed retries."
    )
    escalate_value_minor: int | None = Field(
        None, ge=0, description="Hand it to a person at once when the member is worth this much."
    )
    escalate_value: Literal["plan_price", "lifetime_value"] = Field(
        "lifetime_value", description="Which value `escalate_value_minor` compares with."
    )

    @model_validator(mode="after")
    def _days_fit(self) -> "DunningPolicy":
        late = [
            d for d in [*self.retry_days, *self.notice_days.values()] if d >= self.final_action_day
        ]
        if late:
            raise ValueError(
                f"retry and notice days {sorted(late)} fall on or after final_action_day "
                f"{self.final_action_day}: move them earlier or the final action later"
            )
        if any(not 1 <= d <= 28 for d in self.paydays):
            raise ValueError("paydays are days of the month from 1 to 28")
        return self

    def ending_for(self, product: str) -> ProductDunning:
        default = ProductDunning(
            final_action=self.final_action,
            unpaid_access_days=self.unpaid_access_days,
            apply_at_gateway=self.apply_at_gateway,
        )
        return self.products.get(product, default)


@dataclass(frozen=True)
class CaseFacts:
    """What the policy needs to know about one case at one moment."""

    opened_at: datetime
    time_zone: ZoneInfo
    category: Category
    status: CaseStatus
    retries: int  # charges the gateway answered; while the case is open, each one failed
    last_retry_at: datetime | None
    card_changed: bool  # a card other than the failing one is on file
    card_attempts_30d: int
    notices: frozenset[str]
    escalated: bool
    value_minor: int  # what `escalate_value` measures, in the invoice's currency


def on_day(opened_at: datetime, tz: ZoneInfo, day: int, hour: int) -> datetime:
    """`hour` o'clock, member's time, `day` local days after the failure."""
    local_day = local_date(opened_at, tz) + timedelta(days=day)
    return datetime.combine(local_day, time(hour), tz).astimezone(opened_at.tzinfo)


def final_action_at(facts: CaseFacts, policy: DunningPolicy) -> datetime:
    return final_action_time(facts.opened_at, facts.time_zone, policy)


def final_action_time(opened_at: datetime, tz: ZoneInfo, policy: DunningPolicy) -> datetime:
    """When retries run out for a failure at `opened_at`: the final action's day and hour."""
    return on_day(opened_at, tz, policy.final_action_day, policy.retry_local_hour)


def retry_slots(facts: CaseFacts, policy: DunningPolicy) -> list[datetime]:
    """Every scheduled retry of a soft decline: the retry days and paydays before the end."""
    first, end = local_date(facts.opened_at, facts.time_zone), policy.final_action_day
    days = set(policy.retry_days)
    days |= {n for n in range(1, end) if (first + timedelta(days=n)).day in policy.paydays}
    hour = policy.retry_local_hour
    return [on_day(facts.opened_at, facts.time_zone, n, hour) for n in sorted(days)]


def next_retry(facts: CaseFacts, policy: DunningPolicy, as_of: datetime) -> datetime | None:
    """When to charge again: now for a new card, the next slot for a soft decline, else never."""
    if facts.status != CaseStatus.open or facts.retries >= policy.max_attempts:
        return None
    if facts.card_attempts_30d >= policy.max_card_attempts_30d:
        return None  # the card has been charged enough this month, whatever the reason
    if facts.card_changed:
        return as_of
    if facts.category != Category.soft:
        return None
    after = facts.last_retry_at or facts.opened_at
    return next((slot for slot in retry_slots(facts, policy) if slot > after), None)


def retry_reason(facts: CaseFacts, policy: DunningPolicy, slot: datetime) -> str:
    if facts.card_changed:
        return "new_card"
    day = (local_date(slot, facts.time_zone) - local_date(facts.opened_at, facts.time_zone)).days
    return "schedule" if day in policy.retry_days else "payday"


def retry_due(facts: CaseFacts, policy: DunningPolicy, as_of: datetime) -> datetime | None:
    """The retry to make at `as_of`, if one is due. A new card is tried even on the last day."""
    slot = next_retry(facts, policy, as_of)
    if slot is None or slot > as_of:
        return None
    if as_of >= final_action_at(facts, policy) and not facts.card_changed:
        return None
    return slot


@dataclass(frozen=True)
class Notice:
    step: str
    due_at: datetime


def notice_due(facts: CaseFacts, policy: DunningPolicy, as_of: datetime) -> Notice | None:
    """The member email to plan now: the latest one due and not yet planned, if still timely.

    Ops problems (a paused case) are not the member's; a notice skipped because a run was missed
    is not sent later next to its successor.
    """
    if facts.status != CaseStatus.open:
        return None
    schedule = notice_schedule(facts.opened_at, facts.time_zone, policy)
    due = [notice for notice in schedule if notice.due_at <= as_of]
    if not due or due[-1].step in facts.notices:
        return None
    latest = due[-1]
    if as_of - latest.due_at > timedelta(hours=policy.notice_lateness_hours):
        return None
    return latest


def notice_schedule(opened_at: datetime, tz: ZoneInfo, policy: DunningPolicy) -> list[Notice]:
    """Every member email of a case that stays unpaid, in order: what a forecast counts on."""
    return [
        Notice(step, _notice_time(opened_at, tz, policy, day))
        for step, day in sorted(policy.notice_days.items(), key=lambda item: item[1])
    ]


def _notice_time(opened_at: datetime, tz: ZoneInfo, policy: DunningPolicy, day: int) -> datetime:
    if day == 0:
        return opened_at
    return on_day(opened_at, tz, day, policy.notice_local_hour)


def should_escalate(facts: CaseFacts, policy: DunningPolicy) -> bool:
    """Once per case: a valuable member, or a case two retries have not solved."""
    if facts.escalated or facts.status == CaseStatus.closed:
        return False
    valuable = (
        policy.escalate_value_minor is not None and facts.value_minor >= policy.escalate_value_minor
    )
    return valuable or facts.retries >= policy.escalate_after_failed_retries


def final_action_due(facts: CaseFacts, policy: DunningPolicy, as_of: datetime) -> bool:
    """Retries have run out (asked after this run's retry, if any, has been made)."""
    return facts.status == CaseStatus.open and as_of >= final_action_at(facts, policy)


def card_identity(
    member: str, last4: str | None, exp_month: int | None, exp_year: int | None
) -> str | None:
    """A member's card as memberflow knows it: enough to notice that they put in a new one,
    and to count its charges across their subscriptions (never across members)."""
    if not last4:
        return None
    expiry = f"{exp_month:02d}/{exp_year}" if exp_month and exp_year else "?"
    return f"{member}:{last4}:{expiry}"


PROBE_FIRST = timedelta(hours=1)
PROBE_LONGEST = timedelta(hours=24)


def next_probe(probes_so_far: int, as_of: datetime) -> datetime:
    """When a case paused by the gateway tries it again: in 1 hour, then 2, 4, ... up to a day."""
    wait = min(PROBE_FIRST * 2**probes_so_far, PROBE_LONGEST)
    return as_of + wait
