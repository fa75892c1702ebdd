"""Calendar rules shared by every pipeline. Plain functions over aware datetimes."""

import calendar
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Timing(StrEnum):
    not_yet = "not_yet"
    due = "due"
    expired = "expired"


def zone(name: str | None) -> ZoneInfo:
    """The member's time zone; an unknown or empty name falls back to UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def due_at(anchor: datetime, days_before: int, tz: ZoneInfo, local_hour: int = 9) -> datetime:
    """`local_hour` o'clock in the member's zone, `days_before` calendar days before the anchor."""
    due_day = local_date(anchor, tz) - timedelta(days=days_before)
    return datetime.combine(due_day, time(local_hour), tzinfo=tz).astimezone(UTC)


def timing(due: datetime, as_of: datetime, lateness: timedelta) -> Timing:
    """Whether a touchpoint due at `due` should go out in a run at `as_of`."""
    if due > as_of:
        return Timing.not_yet
    return Timing.expired if as_of - due > lateness else Timing.due


def card_valid_until(exp_month: int, exp_year: int) -> date:
    """A card is valid through the last day of its expiry month."""
    return date(exp_year, exp_month, calendar.monthrange(exp_year, exp_month)[1])


def midday(day: date, tz: ZoneInfo) -> datetime:
    """Noon of `day` in the member's zone: a moment whose local date is exactly `day`."""
    return datetime.combine(day, time(12), tzinfo=tz).astimezone(UTC)


def add_interval(moment: datetime, interval: str, anchor_day: int | None = None) -> datetime:
    """The next renewal: one month or year later, keeping the billing day where the month has it.

    Jan 31 monthly renews Feb 28 (29 in a leap year), then Mar 31 when `anchor_day` is 31.
    """
    months = {"month": 1, "year": 12}[interval]
    year, month = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + year, month + 1
    day = min(anchor_day or moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
