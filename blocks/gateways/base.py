"""The one base class every payment gateway implements: `retry_charge(request) -> result`."""

from abc import ABC, abstractmethod

from prefect.blocks.core import Block

from blocks.registry import DOCS
from memberflow.core.charges import ChargeRequest, ChargeResult


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
