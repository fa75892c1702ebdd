"""Real provider event sequences through the ingress, then the follow-up and survey runs day by
day (issue 26): a period-end cancellation followed by the deletion is one cancellation, one exit
survey, one recorded answer, whatever order the two events arrive in; memberflow's own cancel,
echoed back by Stripe, stays memberflow's (no "sorry to see you go" after a final notice)."""

import copy
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from memberflow.core import lifecycle
from memberflow.pipelines.surveys.pipeline import SurveyPipeline
from tests.support.cancellations import follow_up_day, touchpoints
from tests.support.clock import at
from tests.support.outputs import Recorder
from tests.support.surveys import survey_day
from tests.support.webhooks import sample, send

REQUESTED = at("2026-11-19 14:53:20")  # the period-end cancellation (Stripe's canceled_at)
DELETED = at("2026-12-18 11:06:51")  # the deletion, at the period's end


def onboard(client, configured):
    for name in ("customer.created", "customer.subscription.created"):
        assert send(client, "stripe", sample("stripe", name), configured).status_code == 200


def period_end_then_deletion(feedback: str | None) -> list[dict]:
    events = [sample("stripe", "customer.subscription.updated")]
    events.append(sample("stripe", "customer.subscription.deleted"))
    for event in events:
        details = event["data"]["object"]["cancellation_details"]
        details["feedback"] = feedback
        details["comment"] = "Too busy this season" if feedback else None
    return events


def days(first, last):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def run_days(engine, configured, first, last, out):
    for day in days(first, last):
        follow_up_day(engine, configured, day, out)
        survey_day(engine, configured, day, out, SurveyPipeline())


def count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


@pytest.mark.parametrize("order", ["in order", "deletion first"])
@pytest.mark.parametrize("feedback", [None, "unused"])
def test_a_period_end_cancellation_then_its_deletion_is_one_cancellation(
    client, configured, engine, order, feedback
):
    onboard(client, configured)
    updated, deleted = period_end_then_deletion(feedback)
    out = Recorder()
    if order == "in order":  # the daily runs in between, as in real life
        send(client, "stripe", updated, configured)
        run_days(engine, configured, at("2026-11-20 10:00"), at("2026-11-23 10:00"), out)
        send(client, "stripe", deleted, configured)
    else:  # the endpoint was down: the deletion came first, the update on Stripe's retry
        run_days(engine, configured, at("2026-11-18 10:00"), at("2026-11-18 10:00"), out)
        send(client, "stripe", deleted, configured)
        send(client, "stripe", updated, configured)
    run_days(engine, configured, at("2026-12-19 10:00"), at("2026-12-23 10:00"), out)

    with engine.connect() as conn:
        sub = conn.execute(text("SELECT canceled_at, cancel_feedback FROM subscription")).one()
        facts = lifecycle.history(conn, 1)
    assert lifecycle.settle(facts).canceled_at == REQUESTED  # the request never moves
    assert str(sub.canceled_at)[:19] == "2026-11-19 14:53:20" and sub.cancel_feedback == feedback
    assert sorted(f.kind for f in facts) == ["canceled", "canceled"]  # both kept, in history
    assert count(engine, "SELECT COUNT(*) FROM cancellation") == 1
    with engine.connect() as conn:  # access ends at the period's end, as Stripe says
        access_end = conn.execute(text("SELECT access_end FROM cancellation")).scalar()
    assert str(access_end)[:19] == "2026-12-18 11:06:50"
    sent = [m.step for m in out.sent]
    answers = count(engine, "SELECT COUNT(*) FROM survey_response WHERE source = 'provider'")
    assert answers == (1 if feedback else 0)  # told Stripe why: recorded once
    if order == "in order":
        assert sent.count("confirmation") == 1
        assert sent.count("exit_survey") == (0 if feedback else 1)  # never asked again
    else:  # learned a month late: recorded, but a month-old goodbye or survey is not sent
        assert "confirmation" not in sent and "exit_survey" not in sent
        assert touchpoints(engine)["confirmation"][0] == "expired"


def test_memberflows_own_cancel_echoed_by_stripe_stays_involuntary(client, configured, engine):
    """Dunning's final action cancels at Stripe; Stripe's deletion says
    `cancellation_requested` (our request). Whether the echo comes before or after memberflow
    records its own action, the cancellation is involuntary: no voluntary goodbye."""
    onboard(client, configured)
    with engine.begin() as conn:  # dunning, about to cancel at the provider
        intent = lifecycle.Fact(
            lifecycle.OWN_INTENT, DELETED, "memberflow:dunning:in_1", "payment_failed"
        )
        lifecycle.record_and_settle(conn, 1, [intent], current=None)
    echo = sample("stripe", "customer.subscription.deleted")
    obj = echo["data"]["object"]
    obj.update(canceled_at=int(DELETED.timestamp()), ended_at=int(DELETED.timestamp()))
    obj["cancellation_details"] = {"reason": "cancellation_requested", "feedback": None}
    send(client, "stripe", echo, configured)  # the echo, before dunning recorded the cancel
    with engine.connect() as conn:
        reason = conn.execute(text("SELECT cancel_reason FROM subscription")).scalar()
    assert reason == "payment_failed"
    out = Recorder()
    run_days(engine, configured, at("2026-12-19 10:00"), at("2026-12-20 10:00"), out)
    steps = touchpoints(engine)
    assert "confirmation" not in steps or steps["confirmation"][0] == "skipped"
    assert "confirmation" not in [m.step for m in out.sent]


def test_a_request_that_failed_long_ago_does_not_make_a_members_choice_ours(configured, engine):
    """memberflow's intent to cancel, a month before the member chose to leave, is not this
    cancellation's cause: the echo window is a day."""
    from tests.support.factories import add_subscription

    add_subscription(engine, "s1", current_period_end=at("2027-01-01 00:00"))
    with engine.begin() as conn:
        old = lifecycle.Fact(
            lifecycle.OWN_INTENT, at("2026-10-01 00:00"), "memberflow:x", "payment_failed"
        )
        member = lifecycle.Fact(
            lifecycle.CANCELED, at("2026-11-05 00:00"), "stripe:evt_2", "cancellation_requested"
        )
        settled = lifecycle.record_and_settle(conn, 1, [old, member], current=None)
    assert settled.reason == "cancellation_requested"


def test_a_replayed_event_adds_nothing_to_the_history(client, configured, engine):
    onboard(client, configured)
    deleted = sample("stripe", "customer.subscription.deleted")
    for _ in range(2):
        send(client, "stripe", copy.deepcopy(deleted), configured)
    assert count(engine, "SELECT COUNT(*) FROM lifecycle_fact") == 1


def test_the_echo_after_memberflow_recorded_its_cancel_changes_nothing(client, configured, engine):
    onboard(client, configured)
    with engine.begin() as conn:  # dunning's final action, recorded before the echo comes
        own = lifecycle.Fact(
            lifecycle.CANCELED, DELETED, "memberflow:dunning:in_1", "payment_failed"
        )
        lifecycle.record_and_settle(conn, 1, [own], current=None)
    echo = sample("stripe", "customer.subscription.deleted")
    echo["data"]["object"]["cancellation_details"]["reason"] = "cancellation_requested"
    send(client, "stripe", echo, configured)
    with engine.connect() as conn:
        assert lifecycle.settle(lifecycle.history(conn, 1)).reason == "payment_failed"
        reason = conn.execute(text("SELECT cancel_reason FROM subscription")).scalar()
    assert reason == "payment_failed"


# -- any order, any repeat: the same state (a property, over Stripe's real shapes) -----------

STRIPE_SEQUENCE = ["customer.subscription.updated", "customer.subscription.deleted"]


def _events_for(n: int) -> list[tuple[str, dict]]:
    """The period-end cancellation and the deletion, for subscription `sub_<n>`."""
    events = []
    for name in STRIPE_SEQUENCE:
        event = sample("stripe", name, id=f"evt_{n}_{name}")
        event["data"]["object"]["id"] = f"sub_{n}"
        events.append((name, event))
    return events


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations([0, 1]), repeats=st.lists(st.integers(0, 1), max_size=3))
def test_any_order_and_any_repeat_of_stripes_events_settle_to_the_same_state(
    client, configured, engine, order, repeats
):
    """Each example is a subscription of its own (`sub_<n>`), in the one test database."""
    global _EXAMPLE
    _EXAMPLE += 1
    n = _EXAMPLE
    send(client, "stripe", sample("stripe", "customer.created"), configured)  # a repeat: nothing
    created = sample("stripe", "customer.subscription.created", id=f"evt_{n}_created")
    created["data"]["object"]["id"] = f"sub_{n}"
    send(client, "stripe", created, configured)
    events = _events_for(n)
    for index in [*order, *repeats]:  # every event at least once, some again (retries)
        send(client, "stripe", copy.deepcopy(events[index][1]), configured)
    with engine.connect() as conn:
        sub = conn.execute(
            text(
                "SELECT status, canceled_at, cancel_reason, cancel_feedback FROM subscription "
                "WHERE external_id = :id"
            ),
            {"id": f"sub_{n}"},
        ).one()
        facts = conn.execute(
            text(
                "SELECT COUNT(*) FROM lifecycle_fact JOIN subscription s ON s.id = "
                "subscription_id WHERE s.external_id = :id"
            ),
            {"id": f"sub_{n}"},
        ).scalar()
    assert sub.status == "canceled"
    assert str(sub.canceled_at)[:19] == "2026-11-19 14:53:20"  # the request, whatever came when
    assert (sub.cancel_reason, sub.cancel_feedback) == ("cancellation_requested", "unused")
    assert facts == 2  # one per event, however often it came


_EXAMPLE = 0


@pytest.mark.parametrize(
    "provider, first, then",
    [
        ("memberpress", ("subscription-stopped", {}), ("subscription-expired", {})),
        (
            "membermouse",
            ("mm_member_status_change", {"status": "9", "status_name": "Pending Cancellation"}),
            ("mm_member_status_change", {"status": "2", "status_name": "Canceled"}),
        ),
    ],
)
def test_a_stop_then_the_expiry_is_one_cancellation_at_the_stop(
    client, configured, engine, monkeypatch, provider, first, then
):
    """MemberPress's `subscription-stopped` then `subscription-expired` a month later, and
    MemberMouse's status 9 (pending cancellation) then 2 (canceled): their time is their
    arrival, and the cancellation stays at the first."""
    from memberflow.ingress import inbox

    created = "subscription-created" if provider == "memberpress" else "mm_payment_received"
    stopped, ended = at("2026-11-19 15:00"), at("2026-12-18 11:00")
    for moment, (name, changes) in ((stopped, (created, {})), (stopped, first), (ended, then)):
        monkeypatch.setattr(inbox, "now", lambda moment=moment: moment)
        answer = send(client, provider, sample(provider, name, **changes), configured)
        assert answer.status_code == 200, answer.text
    with engine.connect() as conn:
        canceled_at = conn.execute(text("SELECT canceled_at FROM subscription")).scalar()
    assert str(canceled_at)[:16] == "2026-11-19 15:00"
    out = Recorder()
    run_days(engine, configured, at("2026-11-20 10:00"), at("2026-11-21 10:00"), out)
    run_days(engine, configured, at("2026-12-19 10:00"), at("2026-12-21 10:00"), out)
    assert count(engine, "SELECT COUNT(*) FROM cancellation") == 1
    sent = [m.step for m in out.sent]
    assert sent.count("confirmation") == 1 and sent.count("exit_survey") == 1


def test_member_show_prints_the_subscription_and_its_history(client, configured, engine):
    from typer.testing import CliRunner

    from memberflow.cli import app

    onboard(client, configured)
    updated, deleted = period_end_then_deletion("unused")
    send(client, "stripe", deleted, configured)  # learned first, happened last
    send(client, "stripe", updated, configured)
    shown = CliRunner().invoke(app, ["member", "show", "ada@example.com"])
    assert shown.exit_code == 0, shown.output
    assert "subscription sub_Ada001: canceled, canceled 2026-11-19 14:53 UTC" in shown.output
    lines = [line.split() for line in shown.output.splitlines() if "stripe:evt_" in line]
    # both events say when the member asked (Stripe's canceled_at): one moment, two sources
    assert [(line[0], line[1], line[2]) for line in lines] == [
        ("1", "canceled", "2026-11-19"),
        ("2", "canceled", "2026-11-19"),
    ]
    assert all(line[-1] == "unused" for line in lines)


def test_a_cancellation_delivered_after_the_days_run_is_followed_up_the_next_day(
    client, configured, engine
):
    """Stripe's deletion at 09:00 reached memberflow after the 10:00 run (the endpoint was
    down; Stripe retried). The next run selects what memberflow learned since, not what the
    provider dated since: one confirmation, one exit survey."""
    onboard(client, configured)
    out = Recorder()
    run_days(engine, configured, at("2026-11-20 10:00"), at("2026-11-22 10:00"), out)
    left = at("2026-11-22 09:00")
    deleted = sample("stripe", "customer.subscription.deleted", created=int(left.timestamp()))
    deleted["data"]["object"].update(canceled_at=int(left.timestamp()), ended_at=None)
    deleted["data"]["object"]["cancellation_details"].update(feedback=None, comment=None)
    assert send(client, "stripe", deleted, configured).status_code == 200
    run_days(engine, configured, at("2026-11-23 10:00"), at("2026-12-10 10:00"), out)
    sent = [m.step for m in out.sent]
    assert sent.count("confirmation") == 1 and sent.count("exit_survey") == 1


def test_a_comeback_is_dated_by_its_reactivation_not_by_the_next_webhook(
    client, configured, engine
):
    """The member takes back a period-end cancellation; a week later an unrelated update
    (a new card) moves the subscription's last-update time. The return stays at the
    reactivation, so the win-back window is measured from when they really came back."""
    onboard(client, configured)
    updated, _ = period_end_then_deletion(None)
    send(client, "stripe", updated, configured)
    out = Recorder()
    run_days(engine, configured, at("2026-11-20 10:00"), at("2026-11-21 10:00"), out)
    came_back, card_changed = at("2026-11-25 09:00"), at("2026-12-01 09:00")
    for n, moment in enumerate((came_back, card_changed)):
        event = sample("stripe", "customer.subscription.updated", id=f"evt_back_{n}")
        event["created"] = int(moment.timestamp())
        event["data"]["object"].update(cancel_at_period_end=False, canceled_at=None)
        event["data"]["previous_attributes"] = {"cancel_at_period_end": n == 0}
        assert send(client, "stripe", event, configured).status_code == 200
    run_days(engine, configured, at("2026-12-02 10:00"), at("2026-12-02 10:00"), out)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT returned_at, returned_how FROM cancellation")).one()
    assert back.returned_how == "reactivated"
    assert str(back.returned_at)[:16] == "2026-11-25 09:00"


# -- any order, repeat and delay, per provider: the same state and the same touchpoints --------

STOPPED, ENDED = at("2026-11-19 15:00"), at("2026-12-18 11:00")  # arrival, for MemberPress/Mouse


def _identity(provider: str, who: int, payload: dict) -> dict:
    """The payload about member/subscription number `who` (0: the in-order twin)."""
    payload = copy.deepcopy(payload)
    if provider == "stripe":
        obj = payload["data"]["object"]
        payload["id"] = f"{payload['id']}_{who}"
        if obj["object"] == "customer":
            obj.update(id=f"cus_{who}", email=f"m{who}@example.com")
        else:
            obj.update(id=f"sub_{who}", customer=f"cus_{who}")
    elif provider == "memberpress":
        payload["data"]["member"].update(id=3000 + who, email=f"m{who}@example.com")
        payload["data"]["id"] = str(4000 + who)
    else:
        payload.update(member_id=str(500 + who), email=f"m{who}@example.com")
    return payload


SEQUENCES = {  # provider: (how the subscription starts, the two events that end it)
    "stripe": (
        ["customer.created", "customer.subscription.created"],
        [
            sample("stripe", "customer.subscription.updated"),
            sample("stripe", "customer.subscription.deleted"),
        ],
    ),
    "memberpress": (
        ["subscription-created"],
        [
            sample("memberpress", "subscription-stopped"),
            sample("memberpress", "subscription-expired"),
        ],
    ),
    "membermouse": (
        ["mm_payment_received"],
        [
            sample("membermouse", "mm_member_status_change", status="9", status_name="Pending"),
            sample("membermouse", "mm_member_status_change", status="2", status_name="Canceled"),
        ],
    ),
}


def _empty(engine) -> None:
    """Every row but the database's role (a simulation): each example starts from nothing."""
    from sqlmodel import SQLModel

    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name != "database_role":
                conn.execute(table.delete())


def _deliver(client, configured, monkeypatch, provider, who, payloads_at) -> None:
    from memberflow.ingress import inbox

    for payload, moment in payloads_at:
        monkeypatch.setattr(inbox, "now", lambda moment=moment: moment)
        answer = send(client, provider, _identity(provider, who, payload), configured)
        assert answer.status_code == 200, answer.text


def _provider_answers(engine, who: int) -> int:
    query = (
        "SELECT COUNT(*) FROM survey_response r JOIN member m ON m.id = r.member_id "
        "WHERE r.source = 'provider' AND m.email = :e"
    )
    with engine.connect() as conn:
        return conn.execute(text(query), {"e": f"m{who}@example.com"}).scalar()


def _outcome(engine, who: int) -> tuple:
    """The subscription's settled state and every touchpoint planned for it."""
    with engine.connect() as conn:
        sub = conn.execute(
            text(
                "SELECT s.id, status, canceled_at, cancel_reason, cancel_feedback, ended_at "
                "FROM subscription s JOIN member m ON m.id = s.member_id WHERE m.email = :e"
            ),
            {"e": f"m{who}@example.com"},
        ).one()
        planned = conn.execute(
            text(
                "SELECT pipeline, step, due_at, status FROM touchpoint "
                "WHERE subscription_id = :s ORDER BY pipeline, step"
            ),
            {"s": sub.id},
        ).all()
        recorded = conn.execute(
            text("SELECT COUNT(*) FROM cancellation WHERE subscription_id = :s"), {"s": sub.id}
        ).scalar()
    return tuple(sub)[1:], [tuple(row) for row in planned], recorded


ARRIVAL_DATED = ("memberpress", "membermouse")  # their payloads carry no time of the change


@pytest.mark.parametrize("provider", sorted(SEQUENCES))
@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations([0, 1]),
    repeats=st.lists(st.integers(0, 1), max_size=2),
    between=st.booleans(),
)
def test_any_order_repeat_and_delay_settles_and_plans_as_the_in_order_sequence(
    client, configured, engine, monkeypatch, provider, order, repeats, between
):
    """Two members in each example. One's provider sent the two events in order, on time. The
    other's came in any order, some again: for Stripe, all a month late (the endpoint was
    down, then Stripe retried; each event carries its time). MemberPress and MemberMouse date
    a change by its arrival and do not retry, so theirs is a race: the same arrival times as
    the first member's, whichever event each delivery is, repeats later still. Both settle to
    the same state and get the same touchpoints planned."""
    _empty(engine)
    starts, ends = SEQUENCES[provider]
    start = [(sample(provider, name), STOPPED - timedelta(days=40)) for name in starts]
    _deliver(client, configured, monkeypatch, provider, 0, start)
    _deliver(client, configured, monkeypatch, provider, 1, start)
    out = Recorder()
    run_days(engine, configured, at("2026-11-18 10:00"), at("2026-11-18 10:00"), out)
    in_order = [(ends[0], STOPPED), (ends[1], ENDED)]
    _deliver(client, configured, monkeypatch, provider, 0, in_order[:1])
    other = [ends[i] for i in [*order, *repeats]]
    if provider in ARRIVAL_DATED:  # a race, in the same seconds as the first member's event
        times = [STOPPED + timedelta(seconds=n) for n in range(len(other))]
        _deliver(client, configured, monkeypatch, provider, 1, list(zip(other, times, strict=True)))
    if between:  # the daily run after the first event
        run_days(engine, configured, at("2026-11-20 10:00"), at("2026-11-20 10:00"), out)
    _deliver(client, configured, monkeypatch, provider, 0, in_order[1:])
    if provider not in ARRIVAL_DATED:  # all a month late
        times = [ENDED + timedelta(hours=n) for n in range(len(other))]
        _deliver(client, configured, monkeypatch, provider, 1, list(zip(other, times, strict=True)))
    run_days(engine, configured, at("2026-12-19 10:00"), at("2026-12-21 10:00"), out)

    (state, planned, recorded), (any_state, any_planned, any_recorded) = (
        _outcome(engine, 0),
        _outcome(engine, 1),
    )
    assert recorded == any_recorded == 1  # one cancellation each
    answers = [_provider_answers(engine, who) for who in (0, 1)]
    assert answers[0] == answers[1] == (1 if provider == "stripe" else 0)  # feedback: once
    if provider == "memberpress":  # its reason is the event's name: a race's first names it
        state, any_state = state[:2] + state[3:], any_state[:2] + any_state[3:]
    if provider in ARRIVAL_DATED:  # the race's first arrival is the cancellation's moment
        assert str(any_state[1])[:16] == str(STOPPED)[:16]
        state, any_state = state[:1] + state[2:], any_state[:1] + any_state[2:]
    assert any_state == state
    planned_steps = {(p, step) for p, step, _, _ in planned}
    assert {(p, step) for p, step, _, _ in any_planned} == planned_steps
    if provider not in ARRIVAL_DATED:  # Stripe: the very same due times
        assert {row[:3] for row in any_planned} == {row[:3] for row in planned}
