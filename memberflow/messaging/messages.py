"""What the engine hands an output, and what an output hands back."""

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Message:
    """One rendered touchpoint, ready for any channel."""

    key: str  # the idempotency key: receivers drop a repeat of it
    pipeline: str
    step: str
    to_email: str
    to_name: str
    subject: str
    text: str
    html: str
    fields: dict[str, Any] = field(default_factory=dict)  # the merge fields, for Zapier & co.
    # marketing only: the member's one-click unsubscribe (List-Unsubscribe, RFC 8058)
    unsubscribe_url: str | None = None
    locale: str | None = None  # the language it was written in (Content-Language)

    def to_json(self) -> dict[str, Any]:
        """The message as a JSON-ready dict, without copying its fields (asdict deep-copies)."""
        return {name: getattr(self, name) for name in _MESSAGE_FIELDS}


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))


@dataclass(frozen=True)
class Receipt:
    """Proof of delivery as the output saw it (a file path, an HTTP status, a message id)."""

    detail: str


class DeliveryError(Exception):
    """The output could not deliver; the message says why in a way safe to store and show.

    `output_down` says the output itself is failing (it cannot be reached, refuses our
    credentials, answers 5xx after retries), so every other message would fail too: the engine
    stops sending to it after a few in a row, instead of one bad address or one bad message.

    `retry_after` says the receiver asked us to slow down (HTTP 429): the engine pauses every
    send to that output for so many seconds and tries the message again, using no attempt.
    """

    def __init__(
        self, message: str, *, output_down: bool = False, retry_after: float | None = None
    ):
        super().__init__(message)
        self.output_down = output_down
        self.retry_after = retry_after
