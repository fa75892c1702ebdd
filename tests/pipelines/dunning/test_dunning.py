"""Dunning cases on a real database with the sandbox gateway: 30 simulated days per kind of
decline, what was retried and said on which day, and nothing after the payment."""

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from blocks.gateways.sandbox import SandboxGateway
from memberflow.core.charges import ChargeResult, ChargeStatus
from memberflow.core.dunning_models import ChargeAttempt
from memberflow.core.members import is_involuntary
from memberflow.core.models import Invoice, Touchpoint
from memberflow.pipelines.dunning import events
from memberflow.pipelines.dunning import queries as cases
from memberflow.pipelines.dunning.policy import DunningPolicy, FinalAction, ProductDunning
from tests.support.clock import at
from tests.support.dunning import (
    advance,
    case_of,
    deliver,
    failed_renewal,
    pay_invoice,
    run_day,
    set_card,
    subscription_of,
)
from tests.support.outputs import Recorder

FAILED = at("2026-12-01 09:30")  # day 0; the daily run is at 10:00, the retry hour (UTC members)


def day(n: int):
    return at("2026-12-01 10:00") + timedelta(days=n)


class Month:
    """30 daily runs from the failure; who got what on which day."""

    def __init__(self, engine, settings, gateway=None, policy=None):
        self.engine, self.settings = engine, settings
        self.gateway = gateway or SandboxGateway()
        self.policy = policy or DunningPolicy()
        self.member, self.ops = Recorder(), Recorder()
        self.emails: dict[int, list[str]] = defaultdict(list)
        self.tickets: dict[int, list[str]] = defaultdict(list)
        self.charges: dict[int, list[str]] = defaultdict(list)

    def run(self, days=range(31), before_day=None):
        for n in days:
            if before_day:
                before_day(n)
            sent, tickets = len(self.member.sent), len(self.ops.sent)
            charged = len(self.gateway.charges)
            run_day(
                self.engine, self.settings, self.gateway, day(n), self.member, self.ops, self.policy
            )
            self.emails[n] += [m.step for m in self.member.sent[sent:]]
            self.tickets[n] += [m.step for m in self.ops.sent[tickets:]]
            self.charges[n] += self.gateway.charges[charged:]
        return self

    def timeline(self, kind) -> dict[int, list[str]]:
        return {n: steps for n, steps in getattr(self, kind).items() if steps}


def test_insufficient_funds_is_retried_on_schedule_until_the_money_arrives(engine, settings):
    invoice = failed_renewal(
        engine, "soft", card="9995", decline="insufficient_funds", failed_at=FAILED
    )
    month = Month(engine, settings, SandboxGateway(funds_arrive_after_days=4)).run()
    # retries on days 1, 3, 5; the third finds the funds (4 days after the failure)
    assert month.timeline("charges") == {
        1: ["dunning:in_soft:charge:1"],
        3: ["dunning:in_soft:charge:2"],
        5: ["dunning:in_soft:charge:3"],
    }
    assert month.timeline("emails") == {0: ["first_notice"], 3: ["reminder"]}
    assert month.timeline("tickets") == {3: ["escalation"]}  # after the second failed retry
    case = case_of(engine, invoice)
    assert (case.outcome, case.recovered_by, case.recovered_minor) == (
        "recovered",
        "retry 3 (schedule)",
        1999,
    )
    assert (case.retries, case.last_retry_at) == (3, day(5))  # the paying retry counts too
    assert subscription_of(engine, "sub_soft").status == "active"
    first = month.member.sent[0]
    assert "didn't go through" in first.subject and "it happens" in first.text.lower()
    assert "we'll try again on December 2, 2026" in first.text
    assert "$19.99" in first.text and settings.portal_url in first.text


def test_a_soft_decline_that_never_clears_ends_in_the_final_action(engine, settings):
    invoice = failed_renewal(
        engine, "broke", card="0002", decline="generic_decline", failed_at=FAILED
    )
    month = Month(engine, settings).run()
    assert sorted(month.timeline("charges")) == [1, 3, 5, 7]
    assert month.timeline("emails") == {
        0: ["first_notice"],
        3: ["reminder"],
        6: ["last_notice"],
        8: ["final_notice"],
    }
    assert month.timeline("tickets") == {3: ["escalation"]}
    case = case_of(engine, invoice)
    assert (case.status, case.outcome, case.final_action) == ("closed", "canceled", "cancel")
    sub = subscription_of(engine, "sub_broke")
    assert (sub.status, sub.cancel_reason) == ("canceled", "payment_failed")
    assert is_involuntary(sub.cancel_reason)
    last, final = month.member.sent[2], month.member.sent[3]
    assert "will be canceled on December 9, 2026" in last.subject
    assert "has been canceled" in final.subject and "not about you" in final.text
    assert "sorry to see you go" not in final.text.lower()


def test_an_expired_card_is_never_retried_and_the_member_is_asked_for_a_new_one(engine, settings):
    invoice = failed_renewal(
        engine,
        "expired",
        card="0069",
        decline="expired_card",
        failed_at=FAILED,
        hosted_url="https://invoice.stripe.com/i/acct_1/in_expired",
    )
    month = Month(engine, settings).run(range(5))
    assert month.timeline("charges") == {}
    first = month.member.sent[0]
    assert "ending in 0069 can't be used" in first.text and "try again" not in first.text
    assert "https://invoice.stripe.com/i/acct_1/in_expired" in first.html  # the gateway's page

    # the member puts in a new card on day 4 (payment_method.updated): retried at the next run
    set_card(engine, "sub_expired", "4242", exp=(1, 2031))
    month.run(range(5, 31))
    assert month.timeline("charges") == {5: ["dunning:in_expired:charge:1"]}
    case = case_of(engine, invoice)
    assert (case.outcome, case.recovered_by) == ("recovered", "retry 1 (new_card)")
    assert month.timeline("emails") == {0: ["first_notice"], 3: ["reminder"]}


def test_a_stolen_card_is_never_charged_and_the_product_decides_the_end(engine, settings):
    invoice = failed_renewal(
        engine, "stolen", card="9979", decline="stolen_card", failed_at=FAILED, product="annual"
    )
    policy = DunningPolicy(
        products={"annual": ProductDunning(final_action=FinalAction.unpaid, unpaid_access_days=5)}
    )
    month = Month(engine, settings, policy=policy).run()
    assert month.timeline("charges") == {}
    assert month.timeline("emails") == {
        0: ["first_notice"],
        3: ["reminder"],
        6: ["last_notice"],
        8: ["final_notice"],
    }
    assert month.timeline("tickets") == {}  # no retries failed, no value threshold set
    case = case_of(engine, invoice)
    assert (case.outcome, case.final_action) == ("unpaid", "unpaid")
    assert case.access_until == day(8) + timedelta(days=5)
    assert subscription_of(engine, "sub_stolen").status == "unpaid"
    final = month.member.sent[-1]
    assert (
        "put on hold" in final.subject and "you keep access until December 14, 2026" in final.text
    )


def test_a_gateway_outage_alerts_ops_pauses_the_case_and_tells_the_member_nothing(engine, settings):
    invoice = failed_renewal(
        engine, "outage", card="0000", decline="processing_error", failed_at=FAILED
    )
    month = Month(engine, settings).run(range(4))
    # retry 1 hits the outage; each later run probes the gateway again, with a new key each
    # time (Stripe would replay its saved error for the old one)
    assert month.timeline("charges") == {
        1: ["dunning:in_outage:charge:1"],
        2: ["dunning:in_outage:charge:1.1"],
        3: ["dunning:in_outage:charge:1.2"],
    }
    assert month.timeline("tickets") == {1: ["gateway_alert"]}  # once, not once per probe
    assert month.timeline("emails") == {0: ["first_notice"]}  # sent before anything went wrong
    case = case_of(engine, invoice)
    assert (case.status, case.retries, case.probes) == ("paused", 0, 3)  # not failed retries
    assert case.next_probe_at == day(3) + timedelta(hours=4)  # 1, 2, 4 hours...
    alert = month.ops.sent[0]
    assert alert.to_email == settings.support_email
    assert "tries the gateway again by itself" in alert.text
    assert "memberflow cases resume in_outage" in alert.text

    # the gateway answers again: the next probe collects, and ops hear that it is back
    set_card(engine, "sub_outage", "4242")
    month.run(range(4, 6))
    assert month.timeline("charges")[4] == ["dunning:in_outage:charge:1.3"]
    assert month.timeline("tickets")[4] == ["gateway_back"]
    assert "answers again" in month.ops.sent[-1].text
    case = case_of(engine, invoice)
    assert (case.status, case.outcome, case.probes) == ("closed", "recovered", 3)  # it took 3
    assert month.timeline("emails") == {0: ["first_notice"]}


def test_ops_can_resume_a_paused_case_at_once(engine, settings):
    invoice = failed_renewal(
        engine, "outage", card="0000", decline="processing_error", failed_at=FAILED
    )
    month = Month(engine, settings).run(range(2))
    assert case_of(engine, invoice).status == "paused"
    set_card(engine, "sub_outage", "4242")
    assert cases.resume(engine, ["in_outage"]) == 1
    advance(engine, month.gateway, day(1) + timedelta(minutes=30))  # before the next probe
    assert case_of(engine, invoice).outcome == "recovered"


def test_a_payment_outside_memberflow_closes_the_case_and_stops_planned_emails(engine, settings):
    invoice = failed_renewal(
        engine, "paid", card="0002", decline="generic_decline", failed_at=FAILED
    )
    month = Month(engine, settings).run(range(3))
    # day 3: the reminder is planned, then the member pays by hand before it is sent
    advance(engine, month.gateway, day(3))
    pay_invoice(engine, "in_paid", day(3))
    deliver(engine, settings, day(3), month.member, month.ops)
    with Session(engine) as session:
        reminder = session.exec(select(Touchpoint).where(Touchpoint.step == "reminder")).one()
    assert reminder.status == "skipped"
    month.run(range(4, 31))
    assert month.timeline("emails") == {0: ["first_notice"]}
    case = case_of(engine, invoice)
    assert (case.outcome, case.recovered_by) == ("paid_elsewhere", "outside memberflow")
    assert month.gateway.charges == ["dunning:in_paid:charge:1", "dunning:in_paid:charge:2"]


def test_one_case_per_invoice_whatever_duplicates_arrive(engine, settings):
    invoice = failed_renewal(
        engine, "dup", card="0002", decline="generic_decline", failed_at=FAILED
    )
    policy = DunningPolicy()
    opened = [
        cases.open_cases(engine, as_of=day(0), policy=policy, invoice_ids=[invoice])
        for _ in range(3)
    ]
    opened.append(cases.open_cases(engine, as_of=day(0), policy=policy))
    assert opened == [1, 0, 0, 0]
    month = Month(engine, settings)
    month.run(range(1)), month.run(range(1))  # the same day twice
    assert month.timeline("emails") == {0: ["first_notice"]}


def test_a_failure_reported_after_the_payment_opens_no_case(engine, settings):
    invoice = failed_renewal(
        engine, "late", card="0002", decline="generic_decline", failed_at=FAILED
    )
    pay_invoice(engine, "in_late", FAILED + timedelta(minutes=5))
    assert (
        cases.open_cases(engine, as_of=day(0), policy=DunningPolicy(), invoice_ids=[invoice]) == 0
    )


def test_a_failure_older_than_the_schedule_is_left_alone(engine, settings):
    failed_renewal(engine, "old", card="0002", decline="generic_decline", failed_at=FAILED)
    assert cases.open_cases(engine, as_of=day(9), policy=DunningPolicy()) == 0


def test_a_replayed_retry_reuses_its_idempotency_key_after_a_crash(engine, settings):
    invoice = failed_renewal(
        engine, "crash", card="4242", decline="insufficient_funds", failed_at=FAILED
    )
    advance(engine, SandboxGateway(), day(0))

    class Crashing(SandboxGateway):
        def retry_charge(self, request):
            self.seen = request.idempotency_key
            raise KeyboardInterrupt  # the process dies mid-call

    crashing = Crashing()
    with pytest.raises(KeyboardInterrupt):
        advance(crashing, day(1)) if False else advance(engine, crashing, day(1))
    with Session(engine) as session:
        pending = session.exec(select(ChargeAttempt)).one()
    assert (pending.status, pending.key) == ("pending", crashing.seen)
    replay = SandboxGateway()
    advance(engine, replay, day(1) + timedelta(minutes=5))
    assert replay.charges == [crashing.seen]
    assert case_of(engine, invoice).outcome == "recovered"


def test_a_gateway_bug_pauses_the_case_instead_of_failing_the_run(engine, settings):
    invoice = failed_renewal(
        engine, "bug", card="0002", decline="generic_decline", failed_at=FAILED
    )

    class Buggy(SandboxGateway):
        def retry_charge(self, request):
            raise ValueError("boom")

    done = advance(engine, Buggy(), day(1))
    assert done.counts["gateway_paused"] == 1
    assert "ValueError in Buggy: boom" in case_of(engine, invoice).paused_reason


def test_a_rate_limited_gateway_is_tried_again_at_the_next_run(engine, settings):
    invoice = failed_renewal(
        engine, "busy", card="0002", decline="generic_decline", failed_at=FAILED
    )

    class Busy(SandboxGateway):
        def retry_charge(self, request):
            self.keys = [*getattr(self, "keys", []), request.idempotency_key]
            return ChargeResult(ChargeStatus.unavailable, message="429")

    busy = Busy()
    advance(engine, busy, day(0))
    advance(engine, busy, day(1))
    advance(engine, busy, day(1) + timedelta(hours=1))
    assert busy.keys == ["dunning:in_busy:charge:1", "dunning:in_busy:charge:1.1"]
    case = case_of(engine, invoice)
    assert (case.status, case.retries) == ("open", 0)


def test_a_card_is_charged_at_most_15_times_in_30_days_across_cases(engine, settings):
    # one member paying five subscriptions (a family) with one card
    invoices = [
        failed_renewal(
            engine,
            f"many{n}",
            card="0002",
            decline="generic_decline",
            failed_at=FAILED,
            member="family",
        )
        for n in range(5)
    ]
    failed_renewal(engine, "neighbour", card="0002", decline="generic_decline", failed_at=FAILED)
    Month(engine, settings).run(range(9))
    with Session(engine) as session:
        charged = session.exec(select(ChargeAttempt)).all()
    family = [c for c in charged if c.card.startswith("family:")]
    assert len(family) == 15 and len({c.card for c in family}) == 1
    assert len(charged) - len(family) == 4  # another member's card with the same digits
    assert {case_of(engine, i).outcome for i in invoices} == {"canceled"}


def test_valuable_members_get_a_person_at_once_with_the_history(engine, settings):
    failed_renewal(
        engine, "vip", card="0069", decline="expired_card", failed_at=FAILED, amount_minor=60_000
    )
    policy = DunningPolicy(escalate_value_minor=50_000, escalate_value="plan_price")
    month = Month(engine, settings, policy=policy).run(range(4))
    assert month.timeline("tickets") == {0: ["escalation"]}
    ticket = month.ops.sent[0]
    assert ticket.fields["email"] == "m-sub_vip@example.com"
    assert ticket.fields["history"][0]["what"] == "payment failed: expired_card"
    assert "Suggested message" in ticket.text and ticket.key.startswith("dunning-ops:escalation:")


def test_french_members_get_french_emails(engine, settings):
    failed_renewal(
        engine,
        "fr",
        card="0002",
        decline="generic_decline",
        failed_at=FAILED,
        locale="fr",
        time_zone="Europe/Paris",
    )
    month = Month(engine, settings).run(range(1))
    first = month.member.sent[0]
    assert "n'a pas abouti" in first.subject and "19,99" in first.text
    assert "nous réessaierons le 2 décembre 2026" in first.text


def test_the_final_action_is_announced_once_as_a_closed_case(engine, settings):
    failed_renewal(engine, "gone", card="9987", decline="lost_card", failed_at=FAILED)
    Month(engine, settings).run(range(9))
    closed = cases.closed_unannounced(engine)
    assert len(closed) == 1
    event = events.case_event(closed[0])
    assert event["event"] == "memberflow.pipelines.dunning.canceled"
    assert event["payload"]["involuntary_churn"] is True
    assert event["resource"]["prefect.resource.id"] == "memberflow.subscription.sub_gone"
    cases.mark_announced(engine, [closed[0]["id"]], day(9))
    assert cases.closed_unannounced(engine) == []
    with Session(engine) as session:
        assert session.exec(select(Invoice)).one().status == "open"  # the provider decides


def test_a_voided_invoice_is_written_off_and_listed_with_its_case(engine, settings):
    invoice = failed_renewal(
        engine, "void", card="0002", decline="generic_decline", failed_at=FAILED
    )
    advance(engine, SandboxGateway(), day(0))
    with engine.begin() as conn:
        conn.execute(Invoice.__table__.update().values(status="void"))
    assert advance(engine, SandboxGateway(), day(1)).counts["written_off"] == 1
    case = case_of(engine, invoice)
    assert (case.outcome, case.recovered_by, case.recovered_minor) == ("written_off", None, 0)
    [listed] = cases.list_cases(engine, ["closed"])
    assert (listed["invoice"], listed["outcome"]) == ("in_void", "written_off")
    assert cases.list_cases(engine, ["open"]) == []


def test_an_invoice_that_failed_after_as_of_is_explained_not_silently_skipped(engine, settings):
    from memberflow.pipelines.dunning.queries import why_no_case

    invoice = failed_renewal(
        engine, "later", card="0002", decline="generic_decline", failed_at=FAILED
    )
    before = FAILED - timedelta(hours=1)
    assert (
        cases.open_cases(engine, as_of=before, policy=DunningPolicy(), invoice_ids=[invoice]) == 0
    )
    why = why_no_case(engine, invoice_id=invoice, as_of=before, policy=DunningPolicy())
    assert "failed at 2026-12-01T09:30:00+00:00, after this run's as_of" in why
    assert "is not in memberflow's database" in why_no_case(
        engine, invoice_id=999, as_of=before, policy=DunningPolicy()
    )


def test_the_final_action_is_applied_at_the_provider_when_the_product_asks(engine, settings):
    failed_renewal(engine, "broke", card="0002", decline="generic_decline", failed_at=FAILED)
    policy = DunningPolicy(
        products={"monthly": ProductDunning(final_action=FinalAction.cancel, apply_at_gateway=True)}
    )
    month = Month(engine, settings, policy=policy).run(range(10))
    assert month.gateway.final_actions == [("cancel", "sub_broke")]  # once, on day 8
    assert subscription_of(engine, "sub_broke").status == "canceled"


def test_a_provider_that_refuses_the_final_action_pauses_the_case_and_tells_ops(engine, settings):
    class Refusing(SandboxGateway):
        _block_type_name = "memberflow Sandbox Gateway"

        def apply_final_action(self, request):
            raise RuntimeError("No such subscription: 'sub_broke'")

    invoice = failed_renewal(
        engine, "broke", card="0002", decline="generic_decline", failed_at=FAILED
    )
    policy = DunningPolicy(apply_at_gateway=True)
    month = Month(engine, settings, gateway=Refusing(), policy=policy).run(range(10))
    case = case_of(engine, invoice)
    assert case.status == "paused" and "could not cancel at the gateway" in case.paused_reason
    assert subscription_of(engine, "sub_broke").status == "past_due"  # memberflow said nothing
    assert "final_notice" not in [m.step for m in month.member.sent]
    assert [m.step for m in month.ops.sent][-1] == "gateway_alert"
