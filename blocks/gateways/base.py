"""The one base class every payment gateway implements: `retry_charge(request) -> result`."""

from abc import ABC, abstractmethod

from prefect.blocks.core import Block

from blocks.registry import DOCS
from memberflow.core.charges import (
    ChargeRequest,
    ChargeResult,
    DecisionRequest,
    FinalActionRequest,
    OfferCodeRequest,
)


class PaymentGateway(Block, ABC):
    """Retries failed invoices' charges. Subclass it and implement `retry_charge`.

    `retry_charge` never raises for a decline or an outage: it returns a `ChargeResult` saying
    which it was, so the case moves on (a decline) or waits for ops (a gateway error).
    """

    _documentation_url = DOCS

    @property
    def name(self) -> str:
        return self.get_block_type_slug()

    @abstractmethod
    def retry_charge(self, request: ChargeRequest) -> ChargeResult:
        """Charges the invoice again, once per idempotency key."""

    def apply_final_action(self, request: FinalActionRequest) -> str:
        """Cancels, pauses or marks unpaid at the provider; returns what the provider said.
        Raises when it could not (the case then waits, and ops are told)."""
        raise NotImplementedError(f"{type(self).__name__} cannot apply final actions")

    def carry_out_decision(self, request: DecisionRequest) -> str:
        """Carries out a cancel-page decision at the provider; returns what it said. Raises
        NotImplementedError when this provider cannot (ops are told what to do by hand), or
        another error when it could not now (the flow tries again)."""
        raise NotImplementedError(f"{type(self).__name__} cannot carry out cancel-page decisions")

    def create_offer_code(self, request: OfferCodeRequest) -> str:
        """A code for one member's offer, the same for any replay of the idempotency key.
        Raises when the gateway cannot (the message then waits, and a later run tries again)."""
        raise NotImplementedError(f"{type(self).__name__} cannot make offer codes")
