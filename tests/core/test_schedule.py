"""Calendar rules: time zones either side of UTC, DST, month ends, leap days, lateness."""

from datetime import date, timedelta

import pytest

from memberflow.core.schedule import (
    Timing,
    add_interval,
    card_valid_until,
    due_at,
    midday,
    timing,
    zone,
)
from tests.support.clock import at


@pytest.mark.parametrize(
    ("anchor", "tz", "expected"),
    [
        # New York, UTC-5: renewal Dec 8 local, due Dec 1 09:00 EST
        ("2026-12-08 15:00", "America/New_York", "2026-12-01 14:00"),
        # Tokyo, UTC+9: 20:00 UTC on Dec 8 is already Dec 9 there
        ("2026-12-08 20:00", "Asia/Tokyo", "2026-12-02 00:00"),
        # Los Angeles, UTC-8: 03:00 UTC on Dec 8 is still Dec 7 there
        ("2026-12-08 03:00", "America/Los_Angeles", "2026-11-30 17:00"),
        ("2026-12-08 00:00", "UTC", "2026-12-01 09:00"),
    ],
)
def test_due_is_nine_local_on_the_local_day(anchor, tz, expected):
    assert due_at(at(anchor), 7, zone(tz)) == at(expected)


def test_due_time_follows_daylight_saving_in_paris():
    paris = zone("Europe/Paris")  # clocks go forward on 2026-03-29
    assert due_at(at("2026-04-02 10:00"), 7, paris) == at("2026-03-26 08:00")  # CET, UTC+1
    assert due_at(at("2026-04-05 10:00"), 7, paris) == at("2026-03-29 07:00")  # CEST, UTC+2


def test_due_time_follows_daylight_saving_in_new_york():
    new_york = zone("America/New_York")  # clocks go forward on 2026-03-08, back on 2026-11-01
    assert due_at(at("2026-03-09 12:00"), 1, new_york) == at("2026-03-08 13:00")
    assert due_at(at("2026-11-02 12:00"), 1, new_york) == at("2026-11-01 14:00")


def test_due_counts_back_across_month_ends_and_leap_days():
    assert due_at(at("2028-03-01 12:00"), 7, zone("UTC")).date() == date(2028, 2, 23)
    assert due_at(at("2027-03-01 12:00"), 7, zone("UTC")).date() == date(2027, 2, 22)
    assert due_at(at("2027-01-05 12:00"), 30, zone("UTC")).date() == date(2026, 12, 6)


def test_monthly_renewal_from_the_31st_keeps_its_billing_day():
    jan_31 = at("2026-01-31 10:00")
    assert add_interval(jan_31, "month") == at("2026-02-28 10:00")
    assert add_interval(at("2028-01-31 10:00"), "month") == at("2028-02-29 10:00")
    assert add_interval(at("2026-02-28 10:00"), "month", anchor_day=31) == at("2026-03-31 10:00")
    assert add_interval(at("2026-12-31 10:00"), "month") == at("2027-01-31 10:00")


def test_annual_renewal_from_a_leap_day():
    assert add_interval(at("2028-02-29 10:00"), "year") == at("2029-02-28 10:00")


def test_card_is_valid_through_the_end_of_its_month():
    assert card_valid_until(2, 2028) == date(2028, 2, 29)
    assert card_valid_until(2, 2027) == date(2027, 2, 28)
    assert card_valid_until(12, 2026) == date(2026, 12, 31)


def test_midday_keeps_the_local_date():
    for name in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"):
        assert midday(date(2026, 12, 31), zone(name)).astimezone(zone(name)).date() == date(
            2026, 12, 31
        )


def test_timing_is_not_yet_then_due_then_expired():
    due, lateness = at("2026-12-01 09:00"), timedelta(hours=48)
    assert timing(due, at("2026-12-01 08:59"), lateness) is Timing.not_yet
    assert timing(due, at("2026-12-01 09:00"), lateness) is Timing.due
    assert timing(due, at("2026-12-03 09:00"), lateness) is Timing.due
    assert timing(due, at("2026-12-03 09:01"), lateness) is Timing.expired


def test_unknown_zone_falls_back_to_utc():
    assert zone("Mars/Olympus_Mons").key == "UTC"
    assert zone("").key == "UTC"
