"""A run's hold on the touchpoints it claimed: a lease it renews while it lives.

A claim is a lease of `duration` from `claimed_at`; another run may take a row only once its
lease has lapsed. While a batch is being sent, a thread renews the batch's lease every quarter
of its duration, so a slow output never lets another run overtake a live sender; and the sender
sends only while its last renewal is younger than half the duration. When the renewing thread
is late (a busy machine), the sender renews itself before the send rather than give up rows
that are still its own; a sender that cannot renew (its database is gone) stops before anyone
could take its rows. A dead sender stops renewing, and its rows return to the pool within one
duration (a minute by default).
"""

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from memberflow.messaging import store

log = logging.getLogger(__name__)


class Lease:
    def __init__(self, engine: Engine, token: str, ids: Sequence[int], duration: timedelta):
        self.engine, self.token, self.ids = engine, token, list(ids)
        self.duration = duration.total_seconds()
        self.renewed_at = time.monotonic()  # the claim itself was the first renewal
        self.lost: frozenset[int] = frozenset()  # taken by another run: never send them
        self.renewals = 0
        self._renewing = threading.Lock()  # one renewal at a time, whichever thread is late
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="memberflow-lease", daemon=True)

    def __enter__(self) -> "Lease":
        if self.ids:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def extend(self, ids: Sequence[int]) -> None:
        """Holds these too: rows the same batch claimed later, renewed with the rest."""
        self.ids = [*self.ids, *ids]  # a new list: a renewal under way reads the old one whole

    def holds(self, touchpoint_id: int) -> bool:
        """Whether this run may send the touchpoint now."""
        if not self._fresh():
            try:
                self.renew(unless_fresh=True)
            except Exception as error:
                log.warning("cannot renew the claim before sending: %s", error)
                return False
        return touchpoint_id not in self.lost

    def renew(self, unless_fresh: bool = False) -> None:
        with self._renewing:
            if unless_fresh and self._fresh():  # another thread renewed while this one waited
                return
            started = time.monotonic()
            with self.engine.begin() as conn:
                now = datetime.now(UTC)
                held = store.renew_claims(conn, token=self.token, ids=self.ids, now=now)
            # rows already recorded are not held any more either; they are never sent again
            self.lost = frozenset(set(self.ids) - held)
            self.renewed_at, self.renewals = started, self.renewals + 1

    def _fresh(self) -> bool:
        return time.monotonic() - self.renewed_at < self.duration / 2

    def _keep(self) -> None:
        while not self._stop.wait(self.duration / 4):
            try:
                self.renew()
            except Exception as error:  # the database is unreachable: sends stop by themselves
                log.warning("cannot renew the claim on %s touchpoints: %s", len(self.ids), error)
