"""Moments in tests, written as they read."""

from datetime import UTC, datetime


def at(text_value: str) -> datetime:
    """`at("2026-12-01 09:00")` is that moment in UTC."""
    return datetime.fromisoformat(text_value).replace(tzinfo=UTC)


class FakeClock:
    """A monotonic clock the test moves, and a sleep that moves it (pacing, no sleeping)."""

    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds
