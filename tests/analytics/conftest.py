"""The analytics tests' hand-built history: November 2026 is the period (30 days)."""

import pytest

from tests.support.clock import at
from tests.support.history import JANUARY, joined, left


@pytest.fixture
def history(engine):
    """USD monthly at 20.00: a1 stays; a2 leaves (10 Nov); a3's payments fail it out (20 Nov);
    a4 joins on 5 Nov and leaves on 25 Nov (not in the base: it joined during the period);
    a7 left in September and came back, then left on 15 Nov and came back on 20 Nov.
    USD annual at 120.00 (10.00 a month): a5 stays; a6 left in October (before the period).
    EUR monthly at 15.00: e1 stays; e2 leaves on 30 Nov."""
    for name in ("a1", "a2", "a3", "a7"):
        joined(engine, name, JANUARY)
    joined(engine, "a4", at("2026-11-05 00:00"))
    for name in ("a5", "a6"):
        joined(engine, name, JANUARY, product="annual", interval="year", amount_minor=12000)
    for name in ("e1", "e2"):
        joined(engine, name, JANUARY, product="euro", currency="EUR", amount_minor=1500)
    left(engine, "a2", at("2026-11-10 00:00"))
    left(engine, "a3", at("2026-11-20 00:00"), involuntary=True)
    left(engine, "a4", at("2026-11-25 00:00"))
    left(engine, "a7", at("2026-09-01 00:00"), returned_at=at("2026-09-15 00:00"))
    left(engine, "a7", at("2026-11-15 00:00"), returned_at=at("2026-11-20 00:00"))
    left(engine, "a6", at("2026-10-15 00:00"))
    left(engine, "e2", at("2026-11-30 00:00"))
    return engine
