"""Which reminder applies when, and what a run plans, as plain functions (no database)."""

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from memberflow.core.schedule import midday, zone
from memberflow.core.settings import Settings
from memberflow.messaging.planning import plan_rows
from memberflow.messaging.protocols import PlanningWindow
from memberflow.pipelines.reminders.pipeline import ReminderPipeline, message_fields, sample_row
from memberflow.pipelines.reminders.steps import (
    DEFAULT_STEPS,
    ReminderStep,
    anchor_for,
    selection_for,
)
from tests.support.clock import at

STEP = {step.name: step for step in DEFAULT_STEPS}
AS_OF = at("2026-12-01 09:00")


def plan(row, step_name, as_of=AS_OF, lookback_days=7):
    return plan_rows(
        ReminderPipeline(),
        STEP[step_name],
        [row],
        as_of=as_of,
        since=as_of - timedelta(days=lookback_days),
        channel="email",
    )


def test_renewal_applies_to_active_subscriptions_only():
    row = sample_row(current_period_end=at("2026-12-08 10:00"))
    assert anchor_for(STEP["renewal_7d"], row) == at("2026-12-08 10:00")
    assert anchor_for(STEP["renewal_7d"], sample_row(status="canceled")) is None
    assert anchor_for(STEP["renewal_7d"], sample_row(status="trialing")) is None
    assert anchor_for(STEP["renewal_7d"], sample_row(status="past_due")) is None


def test_thirty_day_notice_is_for_annual_plans_only():
    assert anchor_for(STEP["renewal_30d"], sample_row(interval="month")) is None
    assert anchor_for(STEP["renewal_30d"], sample_row(interval="year")) is not None


def test_trial_end_applies_while_trialing():
    row = sample_row(status="trialing", trial_end=at("2026-12-04 00:00"))
    assert anchor_for(STEP["trial_end_3d"], row) == at("2026-12-04 00:00")
    assert anchor_for(STEP["trial_end_3d"], sample_row(status="active")) is None


def test_card_notice_only_when_the_next_charge_falls_after_the_card_ends():
    step = STEP["card_expiry_30d"]
    card_dec = {"card_exp_month": 12, "card_exp_year": 2026, "time_zone": "UTC"}
    after = sample_row(current_period_end=at("2027-01-05 10:00"), **card_dec)
    before = sample_row(current_period_end=at("2026-12-20 10:00"), **card_dec)
    assert anchor_for(step, after) == at("2026-12-31 12:00")
    assert anchor_for(step, before) is None
    assert anchor_for(step, sample_row(card_exp_month=None, card_exp_year=None)) is None


def test_a_due_reminder_is_planned_pending_with_its_idempotency_key():
    row = sample_row(current_period_end=at("2026-12-08 10:00"), time_zone="UTC")
    [planned] = plan(row, "renewal_7d")
    assert planned["key"] == "reminders:renewal_7d:sub_1001:2026-12-08:email"
    assert planned["status"] == "pending"
    assert planned["due_at"] == at("2026-12-01 09:00")


def test_a_reminder_not_yet_due_is_not_planned():
    row = sample_row(current_period_end=at("2026-12-09 10:00"), time_zone="UTC")
    assert plan(row, "renewal_7d") == []


def test_a_missed_run_catches_up_within_the_allowed_lateness():
    row = sample_row(current_period_end=at("2026-12-08 10:00"), time_zone="UTC")
    [planned] = plan(row, "renewal_7d", as_of=at("2026-12-03 09:00"))  # 48 h late: still due
    assert planned["status"] == "pending"


def test_a_reminder_found_past_its_lateness_is_recorded_expired():
    row = sample_row(current_period_end=at("2026-12-08 10:00"), time_zone="UTC")
    [planned] = plan(row, "renewal_7d", as_of=at("2026-12-04 09:00"))  # 72 h late
    assert planned["status"] == "expired"


def test_nothing_is_planned_before_the_window():
    row = sample_row(current_period_end=at("2026-12-08 10:00"), time_zone="UTC")
    assert plan(row, "renewal_7d", as_of=at("2026-12-12 09:00"), lookback_days=7) == []


def test_product_steps_replace_the_defaults_for_that_product():
    special = ReminderStep(name="renewal_14d", anchor="renewal", days_before=14)
    pipeline = ReminderPipeline(product_steps={"vip": [special]})
    vip, other = sample_row(product_external_id="vip"), sample_row(product_external_id="basic")
    assert pipeline.step_for(replace(vip, step="renewal_14d")) == special
    assert pipeline.step_for(replace(vip, step="renewal_7d")) is None
    assert pipeline.step_for(replace(other, step="renewal_7d")) is not None
    selections = pipeline.selections(PlanningWindow(AS_OF, AS_OF - timedelta(days=7)))
    assert [s.excluded_products for _, s in selections[:4]] == [["vip"]] * 4
    assert selections[-1][1].products == ["vip"]


def test_message_fields_are_formatted_for_the_members_locale():
    row = sample_row(locale="fr", currency="EUR", amount_minor=1500, time_zone="Europe/Paris")
    fields = message_fields(STEP["renewal_7d"], row, at("2026-12-08 10:00"), Settings())
    assert fields["amount"] == "15,00\xa0€"
    assert fields["due_date"] == "8 décembre 2026"
    assert fields["card_expiry"] == "11/2026"


ZONES = [
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Asia/Tokyo",
    "America/New_York",  # DST on 2027-03-14
    "Europe/Paris",  # DST on 2027-03-28
    "Australia/Lord_Howe",  # a half-hour DST, on 2027-04-04
    "UTC",
]


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    days_before=st.integers(0, 60),
    local_hour=st.integers(0, 23),
    minutes_after_due=st.integers(0, 48 * 60),  # the step's lateness: what a run looks for
    anchor_minute=st.integers(0, 45 * 24 * 60),  # 2027-03-01 to mid-April: across DST changes
)
def test_the_sql_window_never_drops_a_due_touchpoint(
    zone_name, days_before, local_hour, minutes_after_due, anchor_minute
):
    """Whatever the zone and hour, an anchor whose touchpoint is due lies in the SQL window."""
    step = ReminderStep(name="s", anchor="renewal", days_before=days_before, local_hour=local_hour)
    anchor = at("2027-03-01 00:00") + timedelta(minutes=anchor_minute)
    due = step.due(anchor, zone(zone_name))
    as_of = due + timedelta(minutes=minutes_after_due)
    window = selection_for(step, PlanningWindow(as_of, as_of))
    assert window.low <= anchor <= window.high


@settings(max_examples=200, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    days_after_due=st.integers(0, 20),
    last_day=st.dates(min_value=date(2027, 1, 1), max_value=date(2028, 12, 31)),
)
def test_the_sql_window_never_drops_a_due_card_notice(zone_name, days_after_due, last_day):
    step = STEP["card_expiry_30d"]
    anchor = midday(last_day, zone(zone_name))
    as_of = step.due(anchor, zone(zone_name)) + timedelta(days=days_after_due)
    window = selection_for(step, PlanningWindow(as_of, as_of))
    assert window.low <= last_day <= window.high
