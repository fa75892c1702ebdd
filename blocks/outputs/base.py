"""The one base class every output implements: `send(message) -> Receipt`."""

from abc import ABC, abstractmethod
from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field

from blocks.registry import DOCS
from memberflow.messaging.messages import Message, Receipt


class Output(Block, ABC):
    """Delivers rendered messages somewhere. Subclass it, set `channel`, implement `send`.

    `send` raises `memberflow.messaging.messages.DeliveryError` with a short, secret-free
    reason when delivery failed; the engine records it and a later run tries again.
    """

    _documentation_url = DOCS
    channel: ClassVar[str] = "email"  # part of the idempotency key: outputs of one channel share it
    default_concurrency: ClassVar[int] = 4

    # How hard memberflow may push the receiver; editable in the UI. Real outputs answer in 50 to
    # 500 ms, so sends overlap: throughput is about max_concurrency / latency (docs/scaling.md).
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=256,
        title="Sends in flight",
        description="How many messages may be on their way at once (empty: the output's default).",
    )
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        title="Sends per second",
        description="At most this many sends a second (Zapier and CRMs throttle); empty: no limit.",
    )

    @property
    def concurrency(self) -> int:
        return self.max_concurrency or self.default_concurrency

    def shared_limit_names(self) -> tuple[str, str | None]:
        """The Prefect global concurrency limits that hold this output's limits across workers
        (`memberflow server share-limits` creates them): sends in flight, and sends a second."""
        name = self._block_document_name or "unsaved"
        in_flight = f"memberflow-{self.get_block_type_slug()}-{name}"
        return in_flight, f"{in_flight}-rate" if self.rate_limit else None

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Delivers one message. Called from up to `concurrency` threads at once."""

    def close(self) -> None:
        """Releases connections kept open across a batch (SMTP, HTTP)."""
