"""An output that records what it is given, and a sample message for outputs under test."""

import threading
import time
from collections import Counter

from memberflow.messaging.messages import DeliveryError, Message, Receipt


class Recorder:
    """An output that keeps what it was given (the sink under test)."""

    channel = "email"

    def __init__(self, fail_on: set[str] = frozenset(), delay: float = 0.0):
        self.sent: list[Message] = []
        self.fail_on, self.delay = fail_on, delay
        self.lock = threading.Lock()

    def send(self, message: Message) -> Receipt:
        time.sleep(self.delay)
        if message.key.split(":")[2] in self.fail_on:
            raise DeliveryError("mailbox full")
        with self.lock:
            self.sent.append(message)
        return Receipt(f"recorded {len(self.sent)}")

    def close(self) -> None:
        pass

    def keys(self) -> Counter:
        return Counter(message.key for message in self.sent)


def message(n: int = 1, **overrides) -> Message:
    values = {
        "key": f"reminders:renewal_7d:sub_{n}:2026-12-08:email",
        "pipeline": "reminders",
        "step": "renewal_7d",
        "to_email": f"member{n}@example.com",
        "to_name": "Ada <Lovelace>",
        "subject": "Your membership renews on December 8, 2026",
        "text": "Hi Ada,\nplain text body\n",
        "html": "<p>Hi Ada,</p><p>html body</p>",
        "fields": {"first_name": "Ada", "amount": "$19.99"},
    }
    return Message(**{**values, **overrides})
