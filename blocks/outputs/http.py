"""What the HTTP outputs share: a JSON body of the message and one pooled session."""

import json
import threading
from abc import ABC
from typing import ClassVar

import requests
from pydantic import Field, PrivateAttr

from blocks.outputs.base import Output
from memberflow.messaging.http import make_session
from memberflow.messaging.messages import Message


class HttpOutput(Output, ABC):
    """Base for outputs that POST the message as JSON (Zapier, signed webhooks)."""

    default_concurrency: ClassVar[int] = 16  # latency-bound: many requests overlap well

    # A receiver that takes longer is tried again with the same Idempotency-Key: it may then
    # get the message twice, and should dedupe on the key.
    answer_timeout: float = Field(
        default=15,
        gt=0,
        le=300,
        title="Answer timeout (s)",
        description="How long to wait for the receiver's answer before trying again.",
    )

    _session: requests.Session | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def session(self) -> requests.Session:
        """One session, safe across the sending threads, with a connection for each of them."""
        session = self._session  # made once: the sending threads need no lock to read it
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = make_session(pool=self.concurrency)
                session = self._session
        return session

    @staticmethod
    def body(message: Message) -> bytes:
        return json.dumps(message.to_json(), separators=(",", ":"), default=str).encode()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
