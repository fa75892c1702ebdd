"""Hands stored events to Prefect (`POST {api}/events`), in batches, oldest first. A failure
leaves them in the inbox; the background loop tries again with backoff, and
`memberflow ingress emit` drains whatever is left. Prefect drops repeats of an event id, so
a batch sent twice (the answer lost on the way back) fires nothing twice."""

import json
import logging
import threading
from dataclasses import dataclass, field

import requests
from sqlalchemy import Engine

from memberflow.ingress import inbox
from memberflow.messaging.http import make_session, safe_url

logger = logging.getLogger("memberflow.ingress")


@dataclass(frozen=True)
class PrefectApi:
    """Where Prefect's REST API is, e.g. http://127.0.0.1:4200/api, and how to log in to it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EmitReport:
    emitted: int = 0
    failed: int = 0
    error: str | None = None


class Emitter:
    def __init__(self, engine: Engine, api: PrefectApi, batch_size: int = 200, timeout: float = 10):
        self.engine, self.api = engine, api
        self.batch_size, self.timeout = batch_size, timeout
        self.session: requests.Session = make_session()
        self.wake = threading.Event()  # set by the app after each webhook that owes an event

    def emit_pending(self) -> EmitReport:
        """One pass over the inbox; stops at the first failure (Prefect is probably down)."""
        report = EmitReport()
        while batch := inbox.unemitted(self.engine, self.batch_size):
            ids = [webhook_id for webhook_id, _ in batch]
            error = self._post([event for _, event in batch])
            if error:
                inbox.mark_emit_failed(self.engine, ids, error)
                report.failed, report.error = len(ids), error
                break
            inbox.mark_emitted(self.engine, ids, inbox.now())
            report.emitted += len(ids)
        return report

    def _post(self, events: list[dict]) -> str | None:
        url = self.api.url.rstrip("/") + "/events"
        try:
            response = self.session.post(
                url,
                data=json.dumps(events),
                headers={"Content-Type": "application/json", **self.api.headers},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            return f"Prefect API at {safe_url(url)} unreachable: {type(error).__name__}"
        if response.status_code >= 300:
            answer = f"{response.status_code}: {response.text[:300]}"
            return f"Prefect API at {safe_url(url)} answered {answer}"
        return None

    def run(self, stop: threading.Event, idle_seconds: float = 5, max_backoff: float = 60) -> None:
        """Until `stop`: emit whenever woken (or every `idle_seconds`); back off while failing."""
        delay = idle_seconds
        while not stop.is_set():
            self.wake.clear()
            try:
                report = self.emit_pending()
            except Exception:  # the database may be briefly locked or gone: keep the loop alive
                logger.exception("emitting Prefect events failed; trying again")
                report = EmitReport(error="database")
            if report.emitted:
                logger.info("emitted %d Prefect event(s)", report.emitted)
            if report.error:
                logger.warning("%s; %d event(s) wait in the inbox", report.error, report.failed)
                delay = min(delay * 2, max_backoff)
                stop.wait(delay)
                continue
            delay = idle_seconds
            self.wake.wait(idle_seconds)
