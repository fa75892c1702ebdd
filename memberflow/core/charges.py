"""What a pipeline asks of a payment gateway: retry one invoice's charge and say what happened;
make one member's offer code.

Gateways are Prefect Blocks (`blocks/gateways/`); pipelines see only this interface.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class ChargeRequest:
    """One retry of one invoice. `idempotency_key` is the same for any replay of this retry."""

    idempotency_key: str
    invoice_external_id: str
    subscription_external_id: str
    member_external_id: str
    amount_minor: int
    currency: str
    card_last4: str | None
    failed_at: datetime  # when the invoice first failed
    attempted_at: datetime  # the run's `as_of`


class ChargeStatus(StrEnum):
    succeeded = "succeeded"
    declined = "declined"
    already_paid = "already_paid"  # the gateway says someone else paid it
    gateway_error = "gateway_error"  # our credentials or configuration: ops must act
    unavailable = "unavailable"  # a rate limit or an outage that outlasted our retries


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    decline_code: str | None = None
    advice_code: str | None = None
    message: str | None = None  # short and secret-free: it is stored and shown to ops

    @property
    def paid(self) -> bool:
        return self.status in (ChargeStatus.succeeded, ChargeStatus.already_paid)


@dataclass(frozen=True)
class OfferCodeRequest:
    """A code for one member's offer (a win-back): theirs only, usable once, expiring."""

    idempotency_key: str  # the same for any replay: the gateway returns the same code
    member_external_id: str  # the provider's customer id
    coupon: str  # what the code gives, as the gateway knows it (Stripe: a coupon id)
    expires_at: datetime


@dataclass(frozen=True)
class FinalActionRequest:
    """Dunning's last word, applied at the provider: cancel the subscription, pause its
    collection, or mark the invoice unpaid (uncollectible)."""

    idempotency_key: str
    action: str  # cancel, pause, unpaid
    subscription_external_id: str
    invoice_external_id: str


@dataclass(frozen=True)
class DecisionRequest:
    """A member's decision on the cancel page, carried out at the provider: cancel at the
    period's end (with their reason), pause collection until `resumes_at`, switch to `price`
    from the next period, or apply the discount `code`."""

    idempotency_key: str  # one per decision: a retry is the same request
    decision: str  # cancel, pause, switch, discount
    subscription_external_id: str
    member_external_id: str
    feedback: str | None = None  # the reason, in the provider's words (Stripe's 8 values)
    comment: str | None = None
    resumes_at: datetime | None = None
    price: str | None = None
    code: str | None = None


class Gateway(Protocol):
    name: str

    def retry_charge(self, request: ChargeRequest) -> ChargeResult: ...


# Last four digits of Stripe's test cards (https://docs.stripe.com/testing), and what charging
# that card does in the sandbox gateway and the demo. Any other card succeeds.
TEST_CARDS: dict[str, tuple[ChargeStatus, str | None]] = {
    "4242": (ChargeStatus.succeeded, None),
    "4444": (ChargeStatus.succeeded, None),
    "9995": (ChargeStatus.declined, "insufficient_funds"),  # until the funds arrive
    "0002": (ChargeStatus.declined, "generic_decline"),  # soft, and never clears
    "0119": (ChargeStatus.declined, "processing_error"),
    "0069": (ChargeStatus.declined, "expired_card"),
    "0127": (ChargeStatus.declined, "incorrect_cvc"),
    "3155": (ChargeStatus.declined, "authentication_required"),
    "9987": (ChargeStatus.declined, "lost_card"),
    "9979": (ChargeStatus.declined, "stolen_card"),
    "0019": (ChargeStatus.declined, "fraudulent"),
    "0000": (ChargeStatus.gateway_error, None),  # the gateway is down or misconfigured
}
FUNDS_ARRIVE = "9995"


def retry_charge(gateway: Gateway, request: ChargeRequest) -> ChargeResult:
    """The gateway's answer; a gateway that raises is a gateway error, never the member's."""
    try:
        return gateway.retry_charge(request)
    except Exception as error:  # a gateway's bug is an ops problem, never the member's
        message = f"{type(error).__name__} in {type(gateway).__name__}: {error}"
        return ChargeResult(ChargeStatus.gateway_error, message=message[:500])
