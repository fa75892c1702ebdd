"""What dunning asks of a payment gateway: retry one invoice's charge, say what happened.

Gateways are Prefect Blocks (`blocks/gateway.py`); the core sees only this interface.
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


class Gateway(Protocol):
    name: str

    def retry_charge(self, request: ChargeRequest) -> ChargeResult: ...
