"""The pure rules: when each step falls due, who gets which, when access ends, who is credited."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from memberflow.pipelines.cancellations.steps import (
    DEFAULT_STEPS,
    Leaving,
    access_end,
    steps_due,
    won_back_by,
)
from tests.support.clock import at

PARIS = ZoneInfo("Europe/Paris")


def test_access_ends_at_the_period_end_for_a_cancellation_at_period_end():
    assert access_end("active", at("2026-12-01 09:00"), at("2026-12-20 00:00")) == at(
        "2026-12-20 00:00"
    )
    # effective at once: it ended when it was canceled, not at the period's end
    assert access_end("canceled", at("2026-12-01 09:00"), at("2026-12-20 00:00")) == at(
        "2026-12-01 09:00"
    )
    assert access_end("canceled", at("2026-12-01 09:00"), None) == at("2026-12-01 09:00")


def test_a_voluntary_cancellation_gets_a_confirmation_at_once_then_two_letters():
    leaving = Leaving(at("2026-12-01 09:17"), at("2026-12-20 00:00"), involuntary=False)
    due = {step.name: when for step, when in steps_due(DEFAULT_STEPS, leaving, PARIS)}
    assert due == {
        "confirmation": at("2026-12-01 09:17"),
        "winback_14d": at("2027-01-03 09:00"),  # 10:00 in Paris, 14 days after access ends
        "door_open_60d": at("2027-02-18 09:00"),
    }


def test_an_involuntary_cancellation_gets_the_restore_message_instead():
    leaving = Leaving(at("2026-12-09 10:00"), at("2026-12-09 10:00"), involuntary=True)
    names = [step.name for step, _ in steps_due(DEFAULT_STEPS, leaving, PARIS)]
    assert names == ["restore", "winback_14d", "door_open_60d"]


def test_only_marketing_steps_carry_offers_and_need_consent():
    kinds = {step.name: (step.kind, step.offer) for step in DEFAULT_STEPS}
    assert kinds["confirmation"] == ("transactional", False)
    assert kinds["restore"] == ("transactional", False)
    assert kinds["winback_14d"] == ("marketing", True)
    assert kinds["door_open_60d"] == ("marketing", False)


def test_a_comeback_is_credited_to_the_last_message_within_the_window():
    back = at("2027-01-20 12:00")
    sent = [(at("2027-01-03 09:00"), "winback"), (at("2026-11-01 09:00"), "old")]
    assert won_back_by(sent, back, timedelta(days=30)) == "winback"
    assert won_back_by(sent, back, timedelta(days=10)) is None  # too long after
    assert won_back_by([(back + timedelta(hours=1), "later")], back, timedelta(days=30)) is None
