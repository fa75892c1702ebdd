"""How fast one output is sent to: at most `rate` sends a second, and a pause for everyone
when the receiver says "too many" (HTTP 429, `Retry-After`). Shared by the sending threads,
which `Overlapping` runs."""

import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from queue import SimpleQueue
from typing import Any


class Pacer:
    """Spaces sends `1 / rate` seconds apart (no limit when `rate` is None) and holds every
    sender while a pause the receiver asked for lasts."""

    def __init__(
        self,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = rate
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

    def __reduce__(self):  # to another process (a Dask worker): the same pace, a lock of its own
        return Pacer, (self.rate,)


# About what one message costs this process besides waiting for the receiver (render, record,
# the HTTP client; measured 1.3 to 1.9 ms here): while a send waits less than that, a second
# thread has nothing to overlap; more in flight than latency / this only adds threads.
CPU_PER_SEND = 0.0015


class Sending:
    """One run's sending to one output, across all its batches: the pace, and how many sends
    may be in flight now. That starts at one and doubles with each healthy answer up to the
    output's limit (slow start), and falls back to one when the output fails: an output down
    from the start costs a few tries, not a burst, and a batch starts where the last one was.
    It never passes what the receiver's latency can use: a receiver that answers within a
    millisecond gets one send at a time (no threads), one that takes 200 ms about two hundred."""

    def __init__(
        self,
        rate: float | None = None,
        window: int = 1,
        gate: Callable[[], AbstractContextManager] | None = None,
    ):
        self.pacer = Pacer(rate)
        self.window = window
        self.latency = 0.0  # seconds a send takes, smoothed
        # held around each send where workers share an output (Prefect's global concurrency
        # and rate limits, set up by the flow): the local pace alone cannot see other workers
        self.gate = gate or nullcontext

    def took(self, seconds: float) -> None:
        """One send took `seconds` (called from the sending threads: a lost update is harmless)."""
        self.latency = seconds if not self.latency else 0.8 * self.latency + 0.2 * seconds

    def answered(self, healthy: bool, limit: int) -> None:
        useful = max(1, math.floor(self.latency / CPU_PER_SEND))
        self.window = min(limit, self.window * 2, useful) if healthy else 1

    def __reduce__(self):
        gate = None if self.gate is nullcontext else self.gate
        return Sending, (self.pacer.rate, self.window, gate)


class Overlapping:
    """Runs `work` over `jobs` on up to `workers` threads, yielding (job, result) as each
    finishes, with no more in flight than the run's window (`Sending`), which `healthy(result)`
    widens or narrows. Once `stop()` is true no new job starts; those never started are left in
    `unsent`. The answers of one wake-up come one after another, then `answered_all()` is
    called before anything else is sent: the place to make their outcomes durable at once."""

    def __init__(
        self,
        jobs: Iterable,
        work: Callable,
        workers: int,
        sending: Sending,
        stop: Callable[[], bool],
        healthy: Callable[[Any], bool],
        answered_all: Callable[[], None] = lambda: None,
    ):
        self.jobs, self.work, self.workers = jobs, work, max(1, workers)
        self.sending, self.stop, self.healthy = sending, stop, healthy
        self.answered_all = answered_all
        self.unsent: list = []

    def __iter__(self):
        pending = iter(self.jobs)
        # a finished send puts its future here: waiting is O(1) per answer, where
        # `concurrent.futures.wait` would re-arm every future in flight each time
        finished: SimpleQueue[Future] = SimpleQueue()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="memberflow-send") as pool:
            running: dict[Future, object] = {}
            while True:
                if self.sending.window == 1 and not running:
                    # one at a time (a fast receiver, or a failing one): no thread hand-off
                    job = None if self.stop() else next(pending, None)
                    if job is None:
                        break
                    result = self.work(job)
                    self.sending.answered(self.healthy(result), self.workers)
                    yield job, result
                    self.answered_all()
                    continue
                while len(running) < self.sending.window and not self.stop():
                    job = next(pending, None)
                    if job is None:
                        break
                    future = pool.submit(self.work, job)
                    running[future] = job
                    future.add_done_callback(finished.put)
                if not running:
                    break
                answered = [finished.get()]  # then every other answer already in: one wake-up
                while not finished.empty():
                    answered.append(finished.get_nowait())
                for future in answered:
                    result = future.result()
                    self.sending.answered(self.healthy(result), self.workers)
                    yield running.pop(future), result
                self.answered_all()
        self.unsent = list(pending)
