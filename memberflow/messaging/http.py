"""The one HTTP path: a session without proxy lookups, a timeout, and one retry policy."""

import logging
import random
import time
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt
from urllib3.exceptions import NameResolutionError, NewConnectionError

from memberflow.messaging.messages import DeliveryError

log = logging.getLogger(__name__)

TIMEOUT = (5, 15)  # connect, read (seconds)
ATTEMPTS = 4
MAX_WAIT = 60.0


def make_session(pool: int = 10) -> requests.Session:
    """`pool`: connections kept per host; as many as the threads sending at once, or they wait."""
    session = requests.Session()
    session.trust_env = False  # no proxy/netrc lookup per request: 18% faster, measured here
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def is_retryable_exception(error: BaseException) -> bool:
    """Connection errors, timeouts and 5xx are worth another try here; other 4xx are not, and
    a 429 goes back to the engine, which slows every send to this output down."""
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code >= 500
    return False


def retry_after(error: BaseException | None) -> float | None:
    """Seconds asked for by a `Retry-After` header in seconds form, if any."""
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return min(float(value), MAX_WAIT) if value is not None else None
    except ValueError:
        return None


def wait_time(state: RetryCallState) -> float:
    """Honour Retry-After; else exponential backoff (1, 2, 4 s...) with up to 1 s of jitter."""
    asked = retry_after(state.outcome.exception() if state.outcome else None)
    if asked is not None:
        return asked
    return min(2 ** (state.attempt_number - 1) + random.uniform(0, 1), MAX_WAIT)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


http_retry = retry(
    retry=retry_if_exception(is_retryable_exception),
    wait=wait_time,
    stop=stop_after_attempt(ATTEMPTS),
    sleep=lambda seconds: _sleep(seconds),  # looked up at call time so tests can patch it
    before_sleep=lambda state: log.warning(
        "HTTP try %s failed (%s); retrying", state.attempt_number, state.outcome.exception()
    ),
    reraise=True,
)


def safe_url(url: str) -> str:
    """Scheme and host only: webhook paths and queries often embed secrets (Zapier hook ids)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@http_retry
def _post(
    session: requests.Session, url: str, body: bytes, headers: dict, timeout: tuple
) -> requests.Response:
    response = session.post(url, data=body, headers=headers, timeout=timeout)
    response.raise_for_status()
    return response


def post_json(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict,
    answer_timeout: float | None = None,
) -> requests.Response:
    """POST JSON with retries; after the last try raise `DeliveryError` with a short reason.
    `answer_timeout`: seconds to wait for the answer (default: TIMEOUT's read timeout)."""
    timeout = (TIMEOUT[0], answer_timeout or TIMEOUT[1])
    try:
        return _post(session, url, body, {"Content-Type": "application/json", **headers}, timeout)
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status == 429:  # too many: not a failure of this message, nor of the receiver
            reason = f"HTTP 429 from {safe_url(url)}: asked to slow down"
            raise DeliveryError(reason, retry_after=retry_after(error) or 1.0) from None
        reason = f"HTTP {status} from {safe_url(url)}{_said(error.response)}"
        if status in ENDPOINT_REFUSES:  # every message would get the same: fix the Block
            raise DeliveryError(reason, output_down=True) from None
        # another 4xx is this message refused for good; a 408 or a 5xx after the retries
        # here may pass (one message a CRM chokes on, or a bad minute): tried again later
        permanent = 400 <= status < 500 and status != 408
        raise DeliveryError(reason, permanent=permanent) from None
    except requests.RequestException as error:
        reason = f"{type(error).__name__} posting to {safe_url(url)}"
        # nobody answers at that address: the output; a timeout or a dropped connection
        # may be this message's (a receiver that hangs on one member's data)
        raise DeliveryError(reason, output_down=_unreachable(error)) from None


# the receiver's answer to these is about the endpoint or our credentials, not the message
ENDPOINT_REFUSES = (401, 403, 404, 410)


def _unreachable(error: requests.RequestException) -> bool:
    """Whether the connection itself could not be made (refused, no such host, connect
    timeout), as against an answer that never came or a connection dropped midway."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, NewConnectionError | NameResolutionError)


def _said(response: requests.Response | None) -> str:
    """The start of the receiver's answer, which is what ops need to fix a refused message
    (kept short, one line: it is stored with the message and shown in the run's logs)."""
    text = (response.text if response is not None else "").strip()
    return f": {' '.join(text.split())[:200]}" if text else ""
