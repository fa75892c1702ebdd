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
    What the engine then does is docs/reliability.md's delivery policy:

    - by default the failure may be passing (HTTP 5xx, 408, a timeout, a dropped connection,
      a script's non-zero exit): the message spends an attempt and is tried again later, with
      exponential backoff, until its attempts run out (then `dead`, with this answer);
    - `permanent`: the receiver refused this message for good (HTTP 4xx but 401, 403, 404,
      408, 410 and 429; an SMTP 5xx for this recipient): retrying would get the same answer,
      so it is dead at once;
    - `output_down`: the output itself cannot work (it cannot be reached, refuses our
      credentials, its endpoint is gone, the disk is full): not the message's fault, so it
      spends no attempt;
    - `retry_after`: the receiver asked us to slow down (HTTP 429): every send to that output
      pauses for so many seconds and the message is tried again, using no attempt.

    Whatever the kind, failures of several different messages in a row, with no success
    between them, mean the output is failing: the engine stops sending to it for the run.
    """

    def __init__(
        self,
        message: str,
        *,
        output_down: bool = False,
        permanent: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.output_down = output_down
        self.permanent = permanent
        self.retry_after = retry_after
