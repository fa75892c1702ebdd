"""Moments in tests, written as they read."""

from datetime import UTC, datetime


def at(text_value: str) -> datetime:
    """`at("2026-12-01 09:00")` is that moment in UTC."""
    return datetime.fromisoformat(text_value).replace(tzinfo=UTC)
