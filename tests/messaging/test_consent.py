"""Consent and the contact cap, for every pipeline: the pure rules, then a reminder and a
win-back due the same day for one member."""

from datetime import timedelta

import pytest

from memberflow.messaging.consent import ContactCap, Kind, consent_reason
from memberflow.messaging.samples import sample_touchpoint
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.cancellations import cancel, follow_up_day, set_member, touchpoints
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder

CAP = ContactCap.parse("1/3d,2/7d")


def test_marketing_needs_consent_and_no_unsubscribe_transactional_only_needs_the_member():
    agreed = sample_touchpoint(marketing_consent=True)
    assert consent_reason(Kind.marketing, agreed) is None
    assert consent_reason(Kind.marketing, sample_touchpoint()) == (
        "the member has not agreed to marketing messages"
    )
    gone = sample_touchpoint(marketing_consent=True, unsubscribed_at=at("2026-12-01 00:00"))
    assert "unsubscribed" in consent_reason(Kind.marketing, gone)
    assert consent_reason(Kind.transactional, gone) is None
    erased = sample_touchpoint(erased_at=at("2026-12-01 00:00"))
    assert consent_reason(Kind.transactional, erased) == "the member asked to be erased"


def test_the_cap_allows_one_per_three_days_and_two_per_week():
    now = at("2026-12-10 10:00")
    assert CAP.next_allowed([], now) is None
    assert CAP.next_allowed([now - timedelta(days=1)], now) == now + timedelta(days=2)
    assert CAP.next_allowed([now - timedelta(days=4)], now) is None
    two = [now - timedelta(days=6), now - timedelta(days=4)]
    assert CAP.next_allowed(two, now) == now + timedelta(days=1)  # the older leaves the week


@pytest.mark.parametrize("text", ["1/3", "one/3d", "0/3d", "1/0d"])
def test_a_malformed_cap_is_refused_with_the_setting_named(text):
    with pytest.raises(ValueError, match="contact cap"):
        ContactCap.parse(text)


def test_an_empty_cap_caps_nothing():
    assert (
        ContactCap.parse("").next_allowed([at("2026-12-10 09:00")], at("2026-12-10 10:00")) is None
    )


# Runs for moments ahead of the clock send "at" those moments (the engine dates them so), so
# these timelines lie in the future: the cap then counts each message on its simulated day.


def renewing_member_who_also_left(engine, settings) -> None:
    """One member: a renewal on Dec 8 (its reminder is due Dec 1, 09:00), and a subscription
    that ended Nov 17 (its win-back is due Dec 1, 10:00)."""
    add_subscription(engine, "renews", current_period_end=at("2031-12-08 10:00"), member="ada")
    add_subscription(engine, "ended", current_period_end=at("2031-11-17 08:00"), member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "ended", at("2031-11-17 08:00"))
    follow_up_day(engine, settings, at("2031-11-17 10:00"), Recorder())  # the confirmation


def remind(engine, settings, day, out) -> None:
    """The reminders' daily run: plan what fell due since yesterday, deliver it."""
    reminders = ReminderPipeline()
    plan_all(engine, reminders, day, day - timedelta(days=1))
    deliver_all(engine, settings, reminders, out, day)


def test_a_reminder_and_a_winback_due_the_same_day_the_winback_waits_for_the_cap(engine, settings):
    renewing_member_who_also_left(engine, settings)
    out = Recorder()
    for n in range(5):
        day = at("2031-12-01 10:00") + timedelta(days=n)
        remind(engine, settings, day, out)
        follow_up_day(engine, settings, day, out)
        if n == 0:
            status, why = touchpoints(engine)["winback_14d"]
            assert (
                status == "pending"
                and why == "held by the contact cap until 2031-12-04T10:00+00:00"
            )
    assert [(m.step, m.fields["first_name"]) for m in out.sent] == [
        ("renewal_7d", "Ada"),
        ("winback_14d", "Ada"),
    ]
    assert touchpoints(engine)["winback_14d"][0] == "sent"


def test_a_held_message_that_would_be_too_late_is_recorded_as_held(engine, settings):
    renewing_member_who_also_left(engine, settings)
    out, day = Recorder(), at("2031-12-01 10:00")
    remind(engine, settings, day, out)
    # a cap of one per five days: the win-back (72 h of lateness) cannot wait that long
    settings.contact_cap = "1/5d"
    follow_up_day(engine, settings, day, out)
    assert touchpoints(engine)["winback_14d"] == ("held", "held by the contact cap")


def test_a_message_the_cap_kept_waiting_until_past_its_lateness_is_held_not_expired(
    engine, settings
):
    """The cap lets the win-back go on Dec 4, but no run comes until Dec 6, past its 72 hours:
    what kept it from the member was the cap, and the record says so (issue 26)."""
    renewing_member_who_also_left(engine, settings)
    out = Recorder()
    for day in (at("2031-12-01 10:00"), at("2031-12-06 10:00")):
        remind(engine, settings, day, out)
        follow_up_day(engine, settings, day, out)
    status, why = touchpoints(engine)["winback_14d"]
    assert status == "held" and why.startswith("held by the contact cap until it was more than")
    assert [m.step for m in out.sent] == ["renewal_7d"]
