"""Decisions made on the cancel page, carried out at the provider once each. Stripe's calls go
to tests/support/fake_stripe.py (ours, in Stripe's wire format: localstripe answers 500 to
`cancellation_details` and has no `pause_collection`), except a cancellation without a reason,
which localstripe carries out itself."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import select

from blocks.gateways.base import PaymentGateway
from blocks.gateways.sandbox import SandboxGateway
from blocks.gateways.stripe_gateway import StripeGateway
from memberflow.core.models import CancelVisit
from memberflow.ingress.app import create_app
from memberflow.pipelines.cancel_moment.carry_out import carry_out
from tests.support import localstripe
from tests.support.cancel_page import RENEWS, form_token, manage_link
from tests.support.factories import update_subscription
from tests.support.fake_stripe import FakeStripe

ALTERNATIVES = {"*": {"unused": {"kind": "pause", "months": 2}}}
SUB = "sub_1QfR2k2eZvKYlo2C"  # the fake's subscription


@pytest.fixture
def client(settings, monkeypatch):
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps(ALTERNATIVES))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def decide(client, path: str, reason: str | None, choice: str) -> str:
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start), "reason": reason or ""})
    done = client.post(f"{path}/decide", data={"form_token": form_token(confirm), "choice": choice})
    return done.text


def visit(engine) -> CancelVisit:
    with engine.connect() as conn:
        return conn.execute(select(CancelVisit.__table__)).one()


def test_a_cancellation_is_carried_out_once_with_the_reason_as_stripes_feedback(
    client, engine, settings
):
    path = manage_link(engine, settings, sub=SUB)
    decide(client, path, "unused", "cancel")
    with FakeStripe() as fake:
        gateway = StripeGateway(api_key="rk_test_x", api_base=fake.url)
        now = datetime.now(UTC)
        first = carry_out(engine, gateway.carry_out_decision, now=now, within=timedelta(hours=1))
        again = carry_out(engine, gateway.carry_out_decision, now=now, within=timedelta(hours=1))
    assert len(first.done) == 1 and not again.done  # once
    [call] = fake.posts()
    assert call.form["cancel_at_period_end"] == ["true"]
    assert call.form["cancellation_details[feedback]"] == ["unused"]
    assert call.headers["Idempotency-Key"].startswith("memberflow-cancel-page-")
    assert visit(engine).carried_out_at is not None
    assert "Your membership is canceled" in client.get(path).text  # not offered twice


def test_a_pause_resumes_months_after_the_period_paid_for(client, engine, settings):
    path = manage_link(engine, settings, sub=SUB)
    assert "paused for 2 months" in decide(client, path, "unused", "accept")
    with FakeStripe() as fake:
        gateway = StripeGateway(api_key="rk_test_x", api_base=fake.url)
        carry_out(engine, gateway.carry_out_decision, now=datetime.now(UTC), within=timedelta(1))
    [call] = fake.posts()
    assert call.form["pause_collection[behavior]"] == ["void"]
    resumes = datetime.fromtimestamp(int(call.form["pause_collection[resumes_at]"][0]), UTC)
    assert resumes == RENEWS.replace(month=2, year=2027)  # Dec 20 + 2 months


def test_localstripe_cancels_at_period_end_where_it_can(client, engine, settings):
    with localstripe.running() as url:
        api = stripe.StripeClient("sk_test_x", base_addresses={"api": url})
        plan = {"id": "gold", "amount": 1900, "currency": "usd", "interval": "month"}
        api.v1.plans.create(params={**plan, "product": {"name": "Gold"}})
        card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2030, "cvc": "123"}
        token = api.v1.tokens.create(params={"card": card})
        customer = api.v1.customers.create(params={"email": "ada@example.com", "source": token.id})
        made = api.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"plan": "gold"}]}
        )
        decide(
            client, manage_link(engine, settings, member=customer.id, sub=made.id), None, "cancel"
        )
        gateway = StripeGateway(api_key="sk_test_x", api_base=url)
        done = carry_out(
            engine, gateway.carry_out_decision, now=datetime.now(UTC), within=timedelta(1)
        )
        assert len(done.done) == 1, done
        assert api.v1.subscriptions.retrieve(made.id).cancel_at_period_end is True


def test_a_provider_outage_keeps_the_decision_and_fails_loudly_when_late(client, engine, settings):
    path = manage_link(engine, settings, sub=SUB)
    decide(client, path, None, "cancel")
    decided_at = visit(engine).decided_at
    down = StripeGateway(api_key="rk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0)
    soon = carry_out(
        engine,
        down.carry_out_decision,
        now=decided_at + timedelta(minutes=10),
        within=timedelta(hours=24),
    )
    assert len(soon.failed) == 1 and not soon.overdue
    assert "Your decision is recorded" in client.get(path).text  # the member is told the truth
    late = carry_out(
        engine,
        down.carry_out_decision,
        now=decided_at + timedelta(hours=25),
        within=timedelta(hours=24),
    )
    assert len(late.overdue) == 1
    assert visit(engine).attempts == 2 and visit(engine).carried_out_at is None
    with FakeStripe() as fake:  # back up: carried out
        up = StripeGateway(api_key="rk_test_x", api_base=fake.url)
        carry_out(engine, up.carry_out_decision, now=datetime.now(UTC), within=timedelta(1))
    assert visit(engine).carried_out_at is not None


def test_a_gateway_that_cannot_says_what_to_do_by_hand(client, engine, settings):
    class Manual(SandboxGateway):
        def carry_out_decision(self, request):
            return PaymentGateway.carry_out_decision(self, request)

    path = manage_link(engine, settings, sub="mepr-12")
    decide(client, path, None, "cancel")
    done = carry_out(
        engine, Manual().carry_out_decision, now=datetime.now(UTC), within=timedelta(1)
    )
    assert done.for_ops[0]["to do"] == (
        "cancel subscription mepr-12 at the end of its period at the provider"
    )
    # ops cancel it in MemberPress; its webhook sets the subscription to end with its period
    update_subscription(engine, "mepr-12", cancel_at_period_end=True)
    later = datetime.now(UTC) + timedelta(days=2)  # past the time allowed: but it is done
    done = carry_out(engine, Manual().carry_out_decision, now=later, within=timedelta(1))
    assert done.done[0]["provider"] == "already canceled at the provider"
    assert not done.for_ops and not done.overdue and visit(engine).carried_out_at is not None


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_fails_loudly_when_a_decision_waits_too_long(client, engine, settings):
    from sqlalchemy import update

    from flows.cancel_moment import cancel_moment

    decide(client, manage_link(engine, settings, sub=SUB), None, "cancel")
    with engine.begin() as conn:  # decided two days ago, the provider down since
        conn.execute(
            update(CancelVisit.__table__).values(decided_at=datetime.now(UTC) - timedelta(days=2))
        )
    StripeGateway(api_key="rk_test_x", api_base="http://127.0.0.1:9", max_network_retries=0).save(
        "down", overwrite=True
    )
    late = cancel_moment(gateway="memberflow-stripe-gateway/down", return_state=True)
    assert late.is_failed()
    assert "1 cancel-page decision(s) not carried out within 24 h (cancel sub_1Q" in late.message
    done = cancel_moment(gateway="", return_state=True)  # the sandbox: carried out
    assert done.is_completed(), done.message


@pytest.mark.parametrize(
    "alternative,reason,expected",
    [
        (
            {"kind": "switch", "price": "price_basic", "description": "Basic"},
            "too_expensive",
            {
                "items[0][id]": ["si_Q1a2B3"],
                "items[0][price]": ["price_basic"],
                "proration_behavior": ["none"],
            },
        ),
        (
            {"kind": "discount", "code": "promo_1QfR2k", "description": "30% off"},
            "too_expensive",
            {"discounts[0][promotion_code]": ["promo_1QfR2k"]},
        ),
        (
            {"kind": "discount", "code": "STAY30", "description": "30% off"},
            "too_expensive",
            {"discounts[0][coupon]": ["STAY30"]},
        ),
    ],
    ids=["switch", "promotion-code", "coupon"],
)
def test_a_switch_or_a_discount_is_carried_out_as_stripe_takes_it(
    settings, engine, monkeypatch, alternative, reason, expected
):
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps({"*": {reason: alternative}}))
    with TestClient(create_app(settings)) as client:
        decide(client, manage_link(engine, settings, sub=SUB), reason, "accept")
    with FakeStripe() as fake:
        gateway = StripeGateway(api_key="rk_test_x", api_base=fake.url)
        done = carry_out(
            engine, gateway.carry_out_decision, now=datetime.now(UTC), within=timedelta(1)
        )
    assert len(done.done) == 1, done
    [call] = fake.posts()
    assert {k: v for k, v in call.form.items() if k in expected} == expected
