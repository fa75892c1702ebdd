"""Cancellation follow-up on a real database (SQLite, and PostgreSQL when configured), day by day
with `as_of`: who gets what and when, and nothing once the member is back, unsubscribed or
erased."""

from datetime import timedelta

from sqlmodel import Session, select

from blocks.gateways.sandbox import SandboxGateway
from memberflow.core.models import Cancellation, Invoice, Touchpoint
from tests.support.cancellations import cancel, follow_up_day, set_member, touchpoints
from tests.support.clock import at
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder

CANCELED = at("2026-12-01 09:17")
PERIOD_END = at("2026-12-20 00:00")


def days(engine, settings, out, first, last, **kwargs):
    """Daily runs at 10:00 UTC from `first` to `last` days after the cancellation."""
    for n in range(first, last + 1):
        follow_up_day(engine, settings, at("2026-12-01 10:00") + timedelta(days=n), out, **kwargs)


def sent_steps(out: Recorder) -> list[str]:
    return [message.step for message in out.sent]


def cancellation_of(engine) -> Cancellation:
    with Session(engine) as session:
        return session.exec(select(Cancellation)).one()


def test_a_voluntary_cancellation_at_period_end_gets_three_messages_then_nothing(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END)
    set_member(engine, "m-s1", marketing_consent=True)
    cancel(engine, "s1", CANCELED, at_period_end=True)
    out = Recorder()
    days(engine, settings, out, 0, 90)
    assert sent_steps(out) == ["confirmation", "winback_14d", "door_open_60d"]
    confirmation, winback, door_open = out.sent
    assert "You keep full access until December 20, 2026" in confirmation.text
    assert "COMEBACK" not in confirmation.text and "unsubscribe" not in confirmation.text.lower()
    assert confirmation.unsubscribe_url is None  # transactional: no unsubscribe
    assert "a free month" in winback.subject and "COMEBACK" in winback.text
    assert "January 3, 2027" not in winback.text and "February 2, 2027" in winback.text
    assert winback.unsubscribe_url and winback.unsubscribe_url in winback.text
    assert winback.unsubscribe_url in winback.html
    assert "last note" in door_open.text and door_open.unsubscribe_url
    with Session(engine) as session:
        planned = session.exec(select(Touchpoint).where(Touchpoint.step == "winback_14d")).one()
    assert (
        '"code": "COMEBACK"' in planned.context and '"expires_on": "2027-02-02"' in planned.context
    )


def test_running_a_day_twice_or_seeing_the_cancellation_again_sends_nothing_new(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END)
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    days(engine, settings, out, 0, 0)
    days(engine, settings, out, 0, 1)
    assert sent_steps(out) == ["confirmation"]
    with Session(engine) as session:
        assert len(session.exec(select(Cancellation)).all()) == 1


def test_without_marketing_consent_only_the_confirmation_goes_out(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END)
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    days(engine, settings, out, 0, 90)
    assert sent_steps(out) == ["confirmation"]
    status, why = touchpoints(engine)["winback_14d"]
    assert (status, why) == ("skipped", "the member has not agreed to marketing messages")


def test_an_involuntary_cancellation_says_the_card_failed_and_offers_a_restore_link(
    engine, settings
):
    add_subscription(engine, "s1", current_period_end=PERIOD_END)
    set_member(engine, "m-s1", marketing_consent=True)
    cancel(engine, "s1", CANCELED, reason="payment_failed")
    out = Recorder()
    days(engine, settings, out, 0, 20)
    assert sent_steps(out) == ["restore", "winback_14d"]
    restore = out.sent[0]
    assert "$19.99" in restore.text and "not about you" in restore.text
    assert settings.portal_url in restore.text
    assert cancellation_of(engine).involuntary is True


def test_a_member_just_told_about_the_failed_bill_gets_no_second_goodbye(engine, settings):
    subscription_id = add_subscription(engine, "s1", current_period_end=PERIOD_END)
    with Session(engine) as session:  # the last notice about the failed bill, sent yesterday
        bill = Invoice(
            external_id="in_1", subscription_id=subscription_id, amount_minor=1999, currency="USD"
        )
        session.add(bill)
        session.flush()
        session.add(
            Touchpoint(
                key="bills:last:s1",
                pipeline="bills",
                step="last",
                channel="email",
                subscription_id=subscription_id,
                invoice_id=bill.id,
                status="sent",
                anchor_at=CANCELED - timedelta(days=1),
                due_at=CANCELED - timedelta(days=1),
                sent_at=CANCELED - timedelta(days=1),
                created_at=CANCELED,
            )
        )
        session.commit()
    cancel(engine, "s1", CANCELED, reason="payment_failed")
    out = Recorder()
    days(engine, settings, out, 0, 1)
    assert sent_steps(out) == []
    assert touchpoints(engine)["restore"] == (
        "skipped",
        "the member was just told about the failed payment",
    )


def test_taking_back_a_cancellation_before_access_ends_stops_everything_after_the_confirmation(
    engine, settings
):
    add_subscription(engine, "s1", current_period_end=PERIOD_END)
    set_member(engine, "m-s1", marketing_consent=True)
    cancel(engine, "s1", CANCELED, at_period_end=True)
    out = Recorder()
    days(engine, settings, out, 0, 4)
    # what the ingress does with Stripe's update: cancel_at_period_end false, canceled_at null
    update_subscription(engine, "s1", cancel_at_period_end=False, canceled_at=None)
    days(engine, settings, out, 5, 90)
    assert sent_steps(out) == ["confirmation"]
    back = cancellation_of(engine)
    assert back.returned_how == "reactivated" and back.won_back_by is None
    assert touchpoints(engine)["winback_14d"] == ("skipped", "the member came back")


def test_a_comeback_after_the_winback_is_credited_to_it_and_the_door_open_is_not_sent(
    engine, settings
):
    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    days(engine, settings, out, 0, 30)
    assert sent_steps(out) == ["confirmation", "winback_14d"]
    returned = at("2026-12-25 15:00")
    add_subscription(engine, "s2", current_period_end=at("2027-01-25 15:00"), member="ada")
    update_subscription(engine, "s2", created_at=returned)
    days(engine, settings, out, 31, 90)
    assert sent_steps(out) == ["confirmation", "winback_14d"]
    back = cancellation_of(engine)
    assert back.returned_how == "new_subscription"
    assert back.returned_at == returned
    assert back.won_back_by == out.sent[1].key and back.won_back_offer == "COMEBACK"
    assert touchpoints(engine)["door_open_60d"] == ("skipped", "the member came back")


def test_unsubscribing_between_steps_stops_marketing_only(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    days(engine, settings, out, 0, 20)
    set_member(engine, "ada", unsubscribed_at=at("2026-12-22 08:00"))
    days(engine, settings, out, 21, 90)
    assert sent_steps(out) == ["confirmation", "winback_14d"]
    assert touchpoints(engine)["door_open_60d"] == (
        "skipped",
        "the member unsubscribed from marketing messages",
    )


def test_an_erased_member_gets_nothing_more(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="ada")
    set_member(engine, "ada", marketing_consent=True, erased_at=at("2026-12-01 09:30"))
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    days(engine, settings, out, 0, 90)
    assert sent_steps(out) == []
    assert touchpoints(engine)["confirmation"] == ("skipped", "the member asked to be erased")


def test_a_cancellation_found_weeks_late_records_the_missed_messages_as_expired(engine, settings):
    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "s1", CANCELED)
    out = Recorder()
    follow_up_day(engine, settings, at("2026-12-16 10:00"), out)
    assert sent_steps(out) == []  # nothing: the daily window did not reach back that far
    # the catch-up run (an import, a missed event) looks back further
    from memberflow.pipelines.cancellations import records
    from memberflow.pipelines.cancellations.pipeline import CancellationPipeline
    from tests.support.cancellations import OFFERS

    records.record_new(
        engine,
        as_of=at("2026-12-16 10:00"),
        since=at("2026-11-01 00:00"),
        steps_for=CancellationPipeline().steps_for,
        offers=OFFERS,
        channel="email",
    )
    found = touchpoints(engine)
    assert found["confirmation"][0] == "expired"  # two weeks late: no longer right to send
    assert found["winback_14d"][0] == "pending"  # due yesterday, still within its lateness


def test_over_real_smtp_marketing_carries_one_click_unsubscribe_headers_and_the_rest_not(
    engine, settings
):
    import email
    from email import policy

    from blocks.outputs.smtp import SmtpOutput
    from tests.support.servers import SmtpSink, smtp_server

    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="bea", locale="fr")
    set_member(engine, "bea", marketing_consent=True)
    cancel(engine, "s1", CANCELED, at_period_end=True)
    sink = SmtpSink()
    controller = smtp_server(sink)
    try:
        output = SmtpOutput(
            host="127.0.0.1", port=controller.port, security="none", from_address="b@club.example"
        )
        for day in (at("2026-12-01 10:00"), at("2027-01-03 10:00")):
            follow_up_day(engine, settings, day, output)
    finally:
        controller.stop()
    confirmation, winback = (
        email.message_from_bytes(raw, policy=policy.default) for _, _, raw in sink.messages
    )
    assert confirmation["List-Unsubscribe"] is None and confirmation["Content-Language"] == "fr"
    assert "résiliation" in confirmation["Subject"]
    url = winback["List-Unsubscribe"].strip().strip("<>")
    assert url.startswith(f"{settings.public_url}/unsubscribe/")
    assert winback["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert winback["Content-Language"] == "fr"
    assert url in winback.get_body(("plain",)).get_content()
    assert "Se désabonner en un clic" in winback.get_body(("html",)).get_content()


def test_a_cancellation_at_period_end_is_offered_a_pause_where_the_product_has_one(
    engine, settings
):
    from memberflow.pipelines.cancellations.pipeline import CancellationPipeline

    add_subscription(engine, "later", current_period_end=PERIOD_END, member="ada")
    add_subscription(engine, "now", current_period_end=PERIOD_END, member="bob")
    cancel(engine, "later", CANCELED, at_period_end=True)
    cancel(engine, "now", CANCELED)
    out = Recorder()
    pause = "https://club.example/account/pause"
    from memberflow.pipelines.cancellations import records
    from tests.support.cancellations import OFFERS
    from tests.support.delivery import deliver_all

    records.record_new(
        engine,
        as_of=at("2026-12-01 10:00"),
        since=CANCELED - timedelta(hours=1),
        steps_for=CancellationPipeline().steps_for,
        offers=OFFERS,
        channel="email",
        pause_urls={"monthly": pause},
    )
    deliver_all(engine, settings, CancellationPipeline(), out, at("2026-12-01 10:00"))
    by_member = {m.to_email: m for m in out.sent}
    later, now = by_member["ada@example.com"], by_member["bob@example.com"]
    assert pause in later.text and "pause your membership instead" in later.text
    assert f'href="{pause}"' in later.html
    assert pause not in now.text  # access has ended: nothing to pause


def test_per_member_offer_codes_are_made_once_recorded_and_sent(engine, settings):
    from memberflow.pipelines.cancellations import offers
    from memberflow.pipelines.cancellations.steps import Offer

    coupon = {"monthly": Offer(coupon="winback_month", description="a free month")}
    add_subscription(engine, "s1", current_period_end=PERIOD_END, member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "s1", CANCELED, at_period_end=True)
    out, asked = Recorder(), []

    def down(request):
        asked.append(request)
        raise ConnectionError("gateway unreachable")

    follow_up_day(engine, settings, at("2026-12-01 10:00"), out, offers=coupon)
    assert offers.issue_offer_codes(engine, issue=down) == (0, 1)
    issue = SandboxGateway().create_offer_code
    assert offers.issue_offer_codes(engine, issue=issue) == (1, 0)
    assert offers.issue_offer_codes(engine, issue=issue) == (0, 0)  # made once
    [request] = asked
    assert request.member_external_id == "ada" and request.coupon == "winback_month"
    assert request.expires_at == at("2027-02-02 23:59")  # valid 30 days after it is due
    follow_up_day(engine, settings, at("2027-01-03 10:00"), out, offers=coupon)
    winback = out.sent[-1]
    code = issue(request)
    assert winback.step == "winback_14d" and code in winback.text
    with Session(engine) as session:
        planned = session.exec(select(Touchpoint).where(Touchpoint.step == "winback_14d")).one()
    assert f'"code": "{code}"' in planned.context
