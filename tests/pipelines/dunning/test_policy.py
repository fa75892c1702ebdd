"""The dunning policy as plain functions: categories, schedules, caps, paydays, time zones."""

from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from memberflow.core.dunning_models import CaseStatus
from memberflow.pipelines.dunning import policy as rules
from memberflow.pipelines.dunning.policy import CaseFacts, Category, DunningPolicy, FinalAction
from tests.support.clock import at

OPENED = at("2026-12-01 09:30")  # a Tuesday
UTC_ZONE = ZoneInfo("UTC")


def facts(**changes) -> CaseFacts:
    base = CaseFacts(
        opened_at=OPENED,
        time_zone=UTC_ZONE,
        category=Category.soft,
        status=CaseStatus.open,
        retries=0,
        last_retry_at=None,
        card_changed=False,
        card_attempts_30d=0,
        notices=frozenset(),
        escalated=False,
        value_minor=0,
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("decline", "advice", "category"),
    [
        ("insufficient_funds", None, Category.soft),
        ("try_again_later", None, Category.soft),
        ("processing_error", None, Category.soft),
        ("issuer_not_available", None, Category.soft),
        ("generic_decline", None, Category.soft),
        (None, None, Category.soft),
        ("something_new", None, Category.soft),
        ("expired_card", None, Category.needs_member),
        ("incorrect_cvc", None, Category.needs_member),
        ("authentication_required", None, Category.needs_member),
        ("lost_card", None, Category.hard),
        ("stolen_card", None, Category.hard),
        ("fraudulent", None, Category.hard),
        ("do_not_try_again", None, Category.hard),
        ("STOLEN_CARD", None, Category.hard),
        ("api_error", None, Category.gateway),
        ("insufficient_funds", "do_not_try_again", Category.hard),
        ("generic_decline", "confirm_card_data", Category.needs_member),
        ("expired_card", "try_again_later", Category.soft),
    ],
)
def test_decline_codes_fall_into_categories(decline, advice, category):
    assert rules.categorize(decline, advice) is category


def test_soft_declines_retry_on_days_1_3_5_7_at_the_local_hour():
    policy = DunningPolicy()
    slots = rules.retry_slots(facts(), policy)
    assert slots == [at(f"2026-12-0{day} 10:00") for day in (2, 4, 6, 8)]


def test_the_retry_hour_is_the_members_own():
    tokyo = facts(time_zone=ZoneInfo("Asia/Tokyo"))  # 09:30 UTC is 18:30 on Dec 1 in Tokyo
    first = rules.retry_slots(tokyo, DunningPolicy())[0]
    assert first == at("2026-12-02 01:00")  # 10:00 on Dec 2, Tokyo time
    la = facts(time_zone=ZoneInfo("America/Los_Angeles"))  # 01:30 on Dec 1 there
    assert rules.retry_slots(la, DunningPolicy())[0] == at("2026-12-02 18:00")


def test_retry_days_cross_a_daylight_saving_change_at_the_same_local_hour():
    march = facts(opened_at=at("2027-03-26 12:00"), time_zone=ZoneInfo("Europe/Paris"))
    slots = rules.retry_slots(march, DunningPolicy())
    assert [slot.astimezone(march.time_zone).hour for slot in slots] == [10, 10, 10, 10]
    assert slots[0] == at("2027-03-27 09:00") and slots[1] == at("2027-03-29 08:00")


def test_paydays_add_retries_on_the_1st_and_15th():
    opened = at("2026-12-12 09:30")
    policy = DunningPolicy(paydays=[1, 15], final_action_day=21, retry_days=[1, 3])
    slots = rules.retry_slots(facts(opened_at=opened), policy)
    assert [slot.date().isoformat() for slot in slots] == ["2026-12-13", "2026-12-15", "2027-01-01"]
    later = facts(opened_at=opened, last_retry_at=at("2026-12-15 10:00"), retries=2)
    assert rules.retry_reason(later, policy, at("2027-01-01 10:00")) == "payday"
    assert rules.next_retry(later, policy, at("2026-12-20 10:00")) == at("2027-01-01 10:00")


def test_a_retry_is_due_at_its_slot_and_not_before():
    policy = DunningPolicy()
    assert rules.retry_due(facts(), policy, at("2026-12-02 09:59")) is None
    assert rules.retry_due(facts(), policy, at("2026-12-02 10:00")) == at("2026-12-02 10:00")
    done = facts(retries=1, last_retry_at=at("2026-12-02 10:00"))
    assert rules.retry_due(done, policy, at("2026-12-03 10:00")) is None
    assert rules.retry_due(done, policy, at("2026-12-04 11:00")) == at("2026-12-04 10:00")


def test_a_missed_slot_is_made_up_once_at_the_next_run():
    policy = DunningPolicy()
    late = facts(retries=1, last_retry_at=at("2026-12-02 10:00"))
    assert rules.retry_due(late, policy, at("2026-12-07 09:00")) == at("2026-12-04 10:00")
    after = facts(retries=2, last_retry_at=at("2026-12-07 09:00"))
    assert rules.next_retry(after, policy, at("2026-12-07 09:00")) == at("2026-12-08 10:00")


@pytest.mark.parametrize("category", [Category.needs_member, Category.hard, Category.gateway])
def test_only_soft_declines_retry_the_same_card(category):
    assert rules.next_retry(facts(category=category), DunningPolicy(), at("2026-12-05")) is None


@pytest.mark.parametrize("category", [Category.needs_member, Category.hard, Category.soft])
def test_a_new_card_is_retried_at_once_whatever_the_decline(category):
    now = at("2026-12-03 15:00")
    new_card = facts(category=category, card_changed=True)
    assert rules.retry_due(new_card, DunningPolicy(), now) == now
    assert rules.retry_reason(new_card, DunningPolicy(), now) == "new_card"


def test_a_new_card_is_tried_even_on_the_last_day_but_the_schedule_is_not():
    end = at("2026-12-09 10:00")
    assert rules.retry_due(facts(card_changed=True), DunningPolicy(), end) == end
    assert rules.retry_due(facts(), DunningPolicy(), end) is None


def test_caps_stop_retries_per_invoice_and_per_card():
    policy = DunningPolicy(max_attempts=8, max_card_attempts_30d=15)
    assert rules.next_retry(facts(retries=8, card_changed=True), policy, OPENED) is None
    assert rules.next_retry(facts(card_attempts_30d=15), policy, OPENED) is None
    assert rules.next_retry(facts(card_attempts_30d=14), policy, OPENED) is not None


def test_paused_and_closed_cases_never_retry_or_notify():
    for status in (CaseStatus.paused, CaseStatus.closed):
        case = facts(status=status, card_changed=True)
        assert rules.next_retry(case, DunningPolicy(), at("2026-12-04 10:00")) is None
        assert rules.notice_due(case, DunningPolicy(), at("2026-12-04 10:00")) is None
        assert not rules.final_action_due(case, DunningPolicy(), at("2026-12-30"))


def test_notices_go_on_days_0_3_6_once_each():
    policy = DunningPolicy()
    first = rules.notice_due(facts(), policy, OPENED)
    assert first == rules.Notice("first_notice", OPENED)
    sent_first = facts(notices=frozenset({"first_notice"}))
    assert rules.notice_due(sent_first, policy, at("2026-12-04 08:59")) is None
    assert rules.notice_due(sent_first, policy, at("2026-12-04 09:00")).step == "reminder"
    both = facts(notices=frozenset({"first_notice", "reminder"}))
    assert rules.notice_due(both, policy, at("2026-12-07 09:00")).step == "last_notice"


def test_a_missed_notice_is_not_sent_beside_its_successor_nor_too_late():
    policy = DunningPolicy()
    # the runs of days 3 to 6 never happened: only the last notice goes, not the reminder too
    assert rules.notice_due(facts(), policy, at("2026-12-07 10:00")).step == "last_notice"
    assert rules.notice_due(facts(), policy, at("2026-12-09 09:01")) is None  # > 48 h late


def test_escalation_after_two_failed_retries_or_for_a_valuable_member_once():
    policy = DunningPolicy(escalate_value_minor=50_000)
    assert not rules.should_escalate(facts(retries=1), policy)
    assert rules.should_escalate(facts(retries=2), policy)
    assert rules.should_escalate(facts(value_minor=50_000), policy)
    assert not rules.should_escalate(facts(value_minor=50_000, escalated=True), policy)
    assert not rules.should_escalate(facts(value_minor=10**9), DunningPolicy())  # no threshold


def test_the_final_action_comes_on_its_day_and_follows_the_product():
    policy = DunningPolicy(
        products={"annual": rules.ProductDunning(final_action=FinalAction.unpaid)}
    )
    assert not rules.final_action_due(facts(), policy, at("2026-12-09 09:59"))
    assert rules.final_action_due(facts(), policy, at("2026-12-09 10:00"))
    assert policy.ending_for("annual").final_action is FinalAction.unpaid
    assert policy.ending_for("monthly").final_action is FinalAction.cancel


def test_a_policy_whose_days_overrun_its_end_is_refused_with_the_reason():
    with pytest.raises(ValidationError, match=r"\[9\] fall on or after final_action_day 8"):
        DunningPolicy(retry_days=[1, 9])
    with pytest.raises(ValidationError, match="paydays"):
        DunningPolicy(paydays=[31])


def test_card_identity_notices_a_new_card_or_a_renewed_expiry():
    assert rules.card_identity("m1", "4242", 1, 2027) == "m1:4242:01/2027"
    assert rules.card_identity("m1", "4242", 1, 2027) != rules.card_identity("m1", "4242", 1, 2030)
    assert rules.card_identity("m1", "4242", 1, 2027) != rules.card_identity("m2", "4242", 1, 2027)
    assert rules.card_identity("m1", None, 1, 2027) is None
