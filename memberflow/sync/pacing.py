"""Reading a provider's API as fast as it allows, and no faster.

A sync of 100,000 customers makes thousands of requests: it keeps under the provider's rate
limit on its own (Stripe: 100 read requests a second live, 25 in test mode), and when the
provider still answers 429 it waits as long as the answer's `Retry-After` says (else a growing
pause) before asking again, up to a patience it then gives up with (the sync stops at its
checkpoint; run it again to resume).
"""

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from memberflow.messaging.pacing import Pacer

Answer = TypeVar("Answer")

# a margin under the provider's limit: other integrations share the account's budget
SHARE = 0.8
# how long one request may wait out 429s in all before the sync stops
PATIENCE_SECONDS = 300.0
LONGEST_WAIT = 60.0


class Pace:
    """At most `per_second` requests a second from all the threads that share it (the
    outputs' Pacer), and the patience to wait out a provider's 429s."""

    def __init__(
        self,
        per_second: float,
        *,
        patience: float = PATIENCE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_second <= 0:
            raise ValueError("requests per second must be above 0")
        self.pacer = Pacer(per_second, clock, sleep)
        self.patience = patience
        self.waited_for_429 = 0.0  # seconds spent waiting out 429s: the summary says it

    def wait_turn(self) -> None:
        """Sleeps until this request's turn: one every `1 / per_second` seconds."""
        self.pacer.wait()

    def wait_after_429(self, retry_after: str | None, waited: float, tries: int) -> float | None:
        """Sleeps as long as the provider asked (its `Retry-After` in seconds; without one,
        1, 2, 4 ... s); None when this request has waited its patience out (stop)."""
        pause = _seconds(retry_after)
        if pause is None:
            pause = min(2.0**tries, LONGEST_WAIT)
        pause = min(pause, LONGEST_WAIT)
        if waited + pause > self.patience:
            return None
        self.pacer.pause(pause)  # nobody asks before it is over: the limit is the account's
        self.pacer.sleep(pause)
        self.waited_for_429 += pause
        return pause


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` as seconds (an HTTP date is rare from APIs: treated as absent)."""
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


def paced(
    pace: Pace,
    send: Callable[[], Answer],
    read: Callable[[Answer], tuple[int, Mapping[str, str]]],
) -> tuple[Answer, bool]:
    """Sends when it is its turn, and again after each 429 once its `Retry-After` has passed;
    (the last answer, whether the patience ran out on a 429). `read` gives an answer's status
    and headers (a requests Response's, or the stripe library's tuple)."""
    waited, tries = 0.0, 0
    while True:
        pace.wait_turn()
        answer = send()
        status, headers = read(answer)
        if status != 429:
            return answer, False
        pause = pace.wait_after_429(headers.get("Retry-After"), waited, tries)
        if pause is None:
            return answer, True
        waited, tries = waited + pause, tries + 1


def of_response(answer) -> tuple[int, Mapping[str, str]]:
    """A requests Response's status and headers, for `paced`."""
    return answer.status_code, answer.headers
