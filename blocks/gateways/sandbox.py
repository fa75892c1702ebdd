"""SandboxGateway: the embedded default. Outcomes follow the member's test card, like Stripe's."""

import hashlib
from datetime import timedelta

from pydantic import Field, PrivateAttr

from blocks.gateways.base import PaymentGateway
from memberflow.core.charges import (
    FUNDS_ARRIVE,
    TEST_CARDS,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    DecisionRequest,
    FinalActionRequest,
    OfferCodeRequest,
)


class SandboxGateway(PaymentGateway):
    """A payment gateway that charges nothing. A retry's outcome follows the card's last four
    digits (Stripe's test cards): 4242 succeeds, 9995 is short of funds until
    `funds_arrive_after_days` after the failure, 0002 declines for ever, 0069 has expired,
    9979 is stolen, 0000 is a gateway outage. A replayed idempotency key gets the same answer.

    Example:
        ```python
        from blocks.gateways.sandbox import SandboxGateway
        gateway = SandboxGateway.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Sandbox Gateway"

    funds_arrive_after_days: int = Field(
        default=4,
        title="Funds arrive after (days)",
        description="When card 9995's insufficient funds clear, counted from the failure.",
    )
    _answers: dict[str, ChargeResult] = PrivateAttr(default_factory=dict)
    _calls: list[str] = PrivateAttr(default_factory=list)
    _final_actions: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @property
    def charges(self) -> list[str]:
        """The idempotency key of every call so far, for tests and the demo."""
        return list(self._calls)

    def retry_charge(self, request: ChargeRequest) -> ChargeResult:
        self._calls.append(request.idempotency_key)
        if request.idempotency_key in self._answers:
            return self._answers[request.idempotency_key]
        self._answers[request.idempotency_key] = self._outcome(request)
        return self._answers[request.idempotency_key]

    def apply_final_action(self, request: FinalActionRequest) -> str:
        self._final_actions.append((request.action, request.subscription_external_id))
        return f"sandbox: {request.action} {request.subscription_external_id}"

    def carry_out_decision(self, request: DecisionRequest) -> str:
        self._final_actions.append((request.decision, request.subscription_external_id))
        return f"sandbox: {request.decision} {request.subscription_external_id}"

    @property
    def final_actions(self) -> list[tuple[str, str]]:
        return list(self._final_actions)

    def create_offer_code(self, request: OfferCodeRequest) -> str:
        """A code derived from the idempotency key: the same for any replay, like Stripe's."""
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:8].upper()
        return f"{request.coupon.upper()}-{digest}"

    def _outcome(self, request: ChargeRequest) -> ChargeResult:
        if not request.card_last4:
            return ChargeResult(ChargeStatus.declined, "no_payment_method", message="no card")
        status, code = TEST_CARDS.get(request.card_last4, (ChargeStatus.succeeded, None))
        waited = request.attempted_at - request.failed_at
        if request.card_last4 == FUNDS_ARRIVE and waited >= timedelta(
            days=self.funds_arrive_after_days
        ):
            return ChargeResult(ChargeStatus.succeeded)
        if status is ChargeStatus.gateway_error:
            return ChargeResult(status, message="sandbox gateway unavailable (test card 0000)")
        message = f"sandbox: card ending {request.card_last4} declined ({code})" if code else None
        return ChargeResult(status, code, message=message)
