"""How fast one output is sent to: at most `rate` sends a second, and a pause for everyone
when the receiver says "too many" (HTTP 429, `Retry-After`). Shared by the sending threads."""

import threading
import time
from collections.abc import Callable


class Pacer:
    """Spaces sends `1 / rate` seconds apart (no limit when `rate` is None) and holds every
    sender while a pause the receiver asked for lasts."""

    def __init__(
        self,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0  # when the next send may start
        self._paused_until = 0.0
        self.pauses = 0  # how often the receiver asked us to slow down

    def wait(self) -> None:
        """Blocks until this sender may send."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next_slot, self._paused_until)
            self._next_slot = start + self.interval
        if start > now:
            self.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """The receiver asked for a pause: nobody sends to it for `seconds`."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)
            self.pauses += 1
