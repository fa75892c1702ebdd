"""What the HTTP outputs share: a JSON body of the message and one pooled session."""

import json
from abc import ABC

import requests
from pydantic import PrivateAttr

from blocks.outputs.base import Output
from memberflow.messaging.http import make_session
from memberflow.messaging.messages import Message


class HttpOutput(Output, ABC):
    """Base for outputs that POST the message as JSON (Zapier, signed webhooks)."""

    _session: requests.Session | None = PrivateAttr(default=None)

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = make_session()
        return self._session

    @staticmethod
    def body(message: Message) -> bytes:
        return json.dumps(message.to_json(), separators=(",", ":"), default=str).encode()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
