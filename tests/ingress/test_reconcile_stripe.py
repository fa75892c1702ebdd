"""A timeline of lost webhooks against localstripe (a stateful fake Stripe server others
wrote, test-only, on loopback): its customers, subscriptions, payment methods and `/v1/events`
are its own; nothing here fakes Stripe. An existing business is synced in; then, with no webhook
reaching memberflow (the endpoint down longer than Stripe retries), members cancel and change
cards at Stripe; `memberflow reconcile stripe` applies the events memberflow never got, marked
`reconcile`, so memberflow's state is Stripe's again and the follow-up that was owed goes out
once. Gaps of localstripe's: no event for a declined payment (so no payment fails here) and none
for attaching a PaymentMethod (so the new cards are added the Sources way, which it has)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import stripe
from sqlalchemy import select, text
from typer.testing import CliRunner

from memberflow.core.models import Subscription
from tests.support import localstripe
from tests.support.cancellations import follow_up_day
from tests.support.outputs import Recorder

MEMBERS = 30


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with localstripe.running() as url:
        yield url


def cli(*args: str):
    from memberflow.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def stripe_state(client: stripe.StripeClient) -> dict[str, tuple[str, str | None]]:
    """subscription id -> (status, the customer's default card's last 4), as Stripe has it."""
    state = {}
    subscriptions = client.v1.subscriptions.list(params={"status": "all", "limit": 100})
    for subscription in subscriptions.auto_paging_iter():
        customer = client.v1.customers.retrieve(subscription.customer).to_dict()
        source = client.v1.customers.payment_sources.retrieve(
            customer["id"], customer["default_source"]
        )
        state[subscription.id] = (subscription.status, source.to_dict()["last4"])
    return state


def memberflow_state(engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Subscription.external_id, Subscription.status, Subscription.card_last4)
        )
        return {external_id: (status, last4) for external_id, status, last4 in rows}


def test_after_an_outage_the_reconcile_makes_memberflow_stripe_again(
    settings, engine, localstripe_url
):
    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
    plan = {"id": "gold", "amount": 1900, "currency": "usd", "interval": "month"}
    client.v1.plans.create(params={**plan, "product": {"name": "Gold"}})
    subscriptions = []
    for n in range(MEMBERS):
        card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2030, "cvc": "123"}
        token = client.v1.tokens.create(params={"card": card})
        customer = client.v1.customers.create(
            params={"email": f"m{n}@example.com", "source": token.id}
        )
        subscriptions.append(
            client.v1.subscriptions.create(
                params={"customer": customer.id, "items": [{"plan": "gold"}]}
            )
        )
    api = ["--api-key", "sk_test_x", "--api-base", localstripe_url]
    assert cli("sync", "stripe", *api).exit_code == 0
    # the business's history before memberflow: every event the inbox lacks, applied once
    first = cli("reconcile", "stripe", *api)
    assert first.exit_code == 2 and "customer.subscription.created" in first.output
    assert cli("reconcile", "stripe", *api).output.rstrip().endswith("none was missing")

    # the outage: nothing reaches memberflow while five members leave and five change cards
    outage = datetime.now(UTC)
    for subscription in subscriptions[:5]:
        client.v1.subscriptions.cancel(subscription.id)
    for subscription in subscriptions[5:10]:  # a new card, the Sources way (localstripe has
        # no event for attaching a PaymentMethod; it does for a source)
        new = {"number": "5555555555554444", "exp_month": 3, "exp_year": 2031, "cvc": "123"}
        token = client.v1.tokens.create(params={"card": new})
        card = client.v1.customers.payment_sources.create(
            subscription.customer, params={"source": token.id}
        )
        client.v1.customers.update(subscription.customer, params={"default_source": card.id})
    assert memberflow_state(engine) != stripe_state(client)

    caught_up = cli("reconcile", "stripe", *api)
    assert caught_up.exit_code == 2, caught_up.output  # an incident, even once caught up
    assert "customer.subscription.deleted" in caught_up.output
    assert memberflow_state(engine) == stripe_state(client)
    with engine.connect() as conn:
        marked = conn.execute(
            text("SELECT COUNT(*) FROM inbox WHERE source = 'reconcile' AND event_type = :t"),
            {"t": "customer.subscription.deleted"},
        ).scalar_one()
    assert marked == 5

    # the follow-up owed for the five goes out once, whatever runs again
    out = Recorder()
    follow_up_day(engine, settings, outage + timedelta(hours=1), out)
    assert cli("reconcile", "stripe", *api).exit_code == 0
    follow_up_day(engine, settings, outage + timedelta(hours=2), out)
    confirmations = [m for m in out.sent if m.step == "confirmation"]
    assert len(confirmations) == 5 and len({m.key for m in confirmations}) == 5


@pytest.mark.usefixtures("prefect_harness")
def test_the_daily_flow_says_lost_webhooks_loudly(settings, engine, localstripe_url):
    import json

    from blocks.gateways.stripe_gateway import StripeGateway
    from flows.provider_reconcile import provider_reconcile
    from tests.support.prefect_api import flow_run_artifacts

    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
    client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada"})
    StripeGateway(api_key="sk_test_x", api_base=localstripe_url).save("events", overwrite=True)

    lost = provider_reconcile(gateway="memberflow-stripe-gateway/events", return_state=True)
    assert lost.name == "Completed with failures", lost.message  # the failure notification's
    assert "1 stripe webhook(s) never arrived" in lost.message
    [table] = [
        a
        for a in flow_run_artifacts(lost.state_details.flow_run_id)
        if a["key"] == "stripe-reconcile"
    ]
    assert json.loads(table["data"]) == [{"event type": "customer.created", "missing": 1}]

    quiet = provider_reconcile(gateway="memberflow-stripe-gateway/events", return_state=True)
    assert quiet.name == "Completed"
