"""The period a report covers: [start, end), in UTC, and the one before it."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __post_init__(self):
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a report period needs timezone-aware moments")
        if self.end <= self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def ending(cls, as_of: datetime, days: int) -> "Period":
        """The `days` days up to `as_of`."""
        as_of = as_of.astimezone(UTC)
        return cls(as_of - timedelta(days=days), as_of)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def previous(self) -> "Period":
        return Period(self.start - (self.end - self.start), self.start)

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"
