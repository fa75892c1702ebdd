"""The one base class every output implements: `send(message) -> Receipt`."""

from abc import ABC, abstractmethod
from typing import ClassVar

from prefect.blocks.core import Block

from blocks.registry import DOCS
from memberflow.messaging.messages import Message, Receipt


class Output(Block, ABC):
    """Delivers rendered messages somewhere. Subclass it, set `channel`, implement `send`.

    `send` raises `memberflow.messaging.messages.DeliveryError` with a short, secret-free
    reason when delivery failed; the engine records it and a later run tries again.
    """

    _documentation_url = DOCS
    channel: ClassVar[str] = "email"  # part of the idempotency key: outputs of one channel share it

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Delivers one message."""

    def close(self) -> None:
        """Releases connections kept open across a batch (SMTP, HTTP)."""
