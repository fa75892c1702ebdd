"""Stripe's cases driven by localstripe (PyPI: a stateful fake Stripe server others wrote),
sending its own signed webhooks to the running ingress over loopback. localstripe sends no
`customer.subscription.updated` for `cancel_at_period_end`, so that one event is built from
localstripe's own subscription object and replayed, signed as Stripe signs (said where)."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import stripe
from sqlalchemy import text

from blocks.gateways.stripe_gateway import StripeGateway
from memberflow.core import lifecycle
from memberflow.core.charges import FinalActionRequest
from memberflow.ingress.app import create_app
from memberflow.ingress.replay import signed_request
from tests.support import localstripe
from tests.support.cancellations import follow_up_day
from tests.support.outputs import Recorder
from tests.support.servers import AppServer
from tests.support.surveys import survey_day

WEBHOOK_SECRET = "whsec_test_new"  # one of the two the test settings accept (tests/support)


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with localstripe.running() as url:
        yield url


@pytest.fixture
def stripe_world(localstripe_url, configured):
    """(the Stripe client, the running ingress): localstripe's webhooks go to the ingress."""
    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    with AppServer(create_app(configured)) as ingress:
        path = signed_request("stripe", b"{}", configured)[0].split("?")[0]
        answer = requests.post(
            f"{localstripe_url}/_config/webhooks/memberflow",
            data={"url": ingress.url + path, "secret": WEBHOOK_SECRET},
            timeout=5,
        )
        answer.raise_for_status()
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
        yield client, ingress


def wait_for(engine, event_type: str, count: int = 1, timeout: float = 20) -> None:
    """localstripe posts its webhooks in the background: wait until the ingress has them."""
    query = text("SELECT COUNT(*) FROM inbox WHERE event_type = :t AND status = 'applied'")
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            found = conn.execute(query, {"t": event_type}).scalar()
        if found >= count:
            return
        assert time.monotonic() < deadline, f"{found} of {count} {event_type} applied"
        time.sleep(0.1)


def a_member_with_a_subscription(client, engine) -> stripe.Subscription:
    plan = client.v1.plans.create(
        params={
            "id": "monthly",
            "amount": 1900,
            "currency": "usd",
            "interval": "month",
            "product": {"name": "Monthly"},
        }
    )
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    token = client.v1.tokens.create(params={"card": card})
    customer = client.v1.customers.create(
        params={"email": "ada@example.com", "name": "Ada", "source": token.id}
    )
    wait_for(engine, "customer.created")  # before the subscription names the customer
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id}]}
    )
    wait_for(engine, "customer.subscription.created")
    assert subscription.status == "active"
    return subscription


def replay_updated(ingress, configured, subscription: stripe.Subscription, before: dict) -> None:
    """Our own build of the event localstripe does not send, from its object, in Stripe's
    format and signature."""
    event = {
        "id": f"evt_replayed_{subscription.id}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(datetime.now(UTC).timestamp()),
        "data": {"object": subscription.to_dict(), "previous_attributes": before},
    }
    path, body, headers = signed_request("stripe", json.dumps(event).encode(), configured)
    requests.post(ingress.url + path, data=body, headers=headers, timeout=5).raise_for_status()


def days_after(engine, configured, start: datetime, count: int, out) -> None:
    for n in range(1, count + 1):
        as_of = start + timedelta(days=n)
        follow_up_day(engine, configured, as_of, out)
        survey_day(engine, configured, as_of, out)


def test_a_cancellation_at_period_end_then_the_deletion_is_one_cancellation(
    stripe_world, configured, engine
):
    client, ingress = stripe_world
    subscription = a_member_with_a_subscription(client, engine)
    asked = datetime.now(UTC)
    scheduled = client.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": True}
    )
    replay_updated(ingress, configured, scheduled, {"cancel_at_period_end": False})
    out = Recorder()
    days_after(engine, configured, asked - timedelta(hours=2), 1, out)  # the day's run
    client.v1.subscriptions.cancel(subscription.id)  # localstripe: customer.subscription.deleted
    wait_for(engine, "customer.subscription.deleted")
    days_after(engine, configured, asked, 10, out)
    with engine.connect() as conn:
        facts = lifecycle.history(conn, 1)
        status = conn.execute(text("SELECT status FROM subscription")).scalar()
        recorded = conn.execute(text("SELECT COUNT(*) FROM cancellation")).scalar()
    assert status == "canceled" and len(facts) == 2 and recorded == 1
    assert abs(lifecycle.settle(facts).canceled_at - asked) < timedelta(seconds=5)
    sent = [m.step for m in out.sent]
    assert sent.count("confirmation") == 1 and sent.count("exit_survey") == 1


def test_dunnings_cancel_at_stripe_echoed_back_stays_involuntary(
    stripe_world, localstripe_url, configured, engine
):
    """What dunning's final action does (its intent, then StripeGateway's `DELETE
    /v1/subscriptions/{id}` at localstripe), and localstripe's deletion webhook back."""
    client, _ = stripe_world
    subscription = a_member_with_a_subscription(client, engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        intent = lifecycle.Fact(
            lifecycle.OWN_INTENT, now, "memberflow:dunning:in_1", "payment_failed"
        )
        lifecycle.record_and_settle(conn, 1, [intent], current=None)
    gateway = StripeGateway(api_key="sk_test_x", api_base=localstripe_url, max_network_retries=0)
    request = FinalActionRequest(
        action="cancel",
        subscription_external_id=subscription.id,
        invoice_external_id="in_1",
        idempotency_key="dunning:in_1:final",
    )
    assert gateway.apply_final_action(request).endswith("canceled")
    wait_for(engine, "customer.subscription.deleted")
    with engine.connect() as conn:
        reason = conn.execute(text("SELECT cancel_reason FROM subscription")).scalar()
    assert reason == "payment_failed"
    out = Recorder()
    days_after(engine, configured, now, 3, out)
    assert "confirmation" not in [m.step for m in out.sent]
