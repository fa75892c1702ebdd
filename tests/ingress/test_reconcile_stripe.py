"""A timeline of lost webhooks against localstripe (a stateful fake Stripe server others
wrote, test-only, on loopback): its customers, subscriptions, payment methods and `/v1/events`
are its own; nothing here fakes Stripe. An existing business of 500 is synced in; then, with no
webhook reaching memberflow (the endpoint down longer than Stripe retries), 50 members change at
Stripe: 20 cancel, 15 change cards, 15 renewals fail; `memberflow reconcile stripe` applies the
events memberflow never got, marked `reconcile`, so memberflow's state is Stripe's again and the
follow-ups that were owed (a cancellation confirmation, a dunning notice) go out once. Gaps of
localstripe's worked around: a declined `/pay` sends no event, so the renewals fail the one way
it does send `invoice.payment_failed` (a card that needs 3-D Secure, then failed
authentication); it has no event for attaching a PaymentMethod, so the new cards are added the
Sources way."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import stripe
from sqlalchemy import select, text
from typer.testing import CliRunner

from blocks.gateways.sandbox import SandboxGateway
from memberflow.core.models import Subscription
from tests.support import localstripe
from tests.support.cancellations import follow_up_day
from tests.support.dunning import run_day
from tests.support.outputs import Recorder

MEMBERS = 500


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
    api = ["--api-key", "sk_test_x", "--api-base", localstripe_url, "--requests-per-second", "1000"]
    assert cli("sync", "stripe", *api).exit_code == 0
    # the business's history before memberflow: every event the inbox lacks, applied once
    first = cli("reconcile", "stripe", *api)
    assert first.exit_code == 2 and "customer.subscription.created" in first.output
    assert cli("reconcile", "stripe", *api).output.rstrip().endswith("none was missing")

    # the outage: nothing reaches memberflow while 20 members leave, 15 change cards and 15
    # renewals fail
    outage = datetime.now(UTC)
    for subscription in subscriptions[:20]:
        client.v1.subscriptions.cancel(subscription.id)
    for subscription in subscriptions[20:35]:
        new_card(client, subscription.customer, "5555555555554444")
    for subscription in subscriptions[35:50]:
        fail_renewal(client, localstripe_url, subscription)
    assert memberflow_state(engine) != stripe_state(client)

    caught_up = cli("reconcile", "stripe", *api)
    assert caught_up.exit_code == 2, caught_up.output  # an incident, even once caught up
    for kind in ("customer.subscription.deleted", "invoice.payment_failed", "customer.updated"):
        assert kind in caught_up.output
    # the renewals that failed: Stripe follows `invoice.payment_failed` with a
    # `customer.subscription.updated` (past_due), which the reconcile applies like any event;
    # localstripe sends none for a status change, so those 15 keep their status here
    expected = stripe_state(client)
    for subscription in subscriptions[35:50]:
        status, last4 = expected[subscription.id]
        assert status == "past_due"
        expected[subscription.id] = ("active", last4)
    assert memberflow_state(engine) == expected
    with engine.connect() as conn:
        open_invoices = conn.execute(
            text("SELECT COUNT(*) FROM invoice WHERE status = 'open' AND attempt_count = 1")
        ).scalar_one()
    assert open_invoices == 15
    with engine.connect() as conn:
        marked = dict(
            conn.execute(
                text(
                    "SELECT event_type, COUNT(*) FROM inbox WHERE source = 'reconcile' "
                    "AND occurred_at >= :outage GROUP BY event_type"
                ),
                {"outage": outage - timedelta(seconds=1)},
            ).all()
        )
    assert marked["customer.subscription.deleted"] == 20
    assert marked["invoice.payment_failed"] == 15

    # the follow-ups owed go out once, whatever runs again: a confirmation to each who left,
    # a first dunning notice to each whose renewal failed
    out, notices, ops = Recorder(), Recorder(), Recorder()
    gateway = SandboxGateway()
    follow_up_day(engine, settings, outage + timedelta(hours=1), out)
    run_day(engine, settings, gateway, outage + timedelta(hours=1), notices, ops)
    assert cli("reconcile", "stripe", *api).exit_code == 0
    follow_up_day(engine, settings, outage + timedelta(hours=2), out)
    run_day(engine, settings, gateway, outage + timedelta(hours=2), notices, ops)
    confirmations = [m for m in out.sent if m.step == "confirmation"]
    assert len(confirmations) == 20 and len({m.key for m in confirmations}) == 20
    dunned = {m.to_email for m in notices.sent}
    assert len(notices.sent) == 15 and len(dunned) == 15, [m.key for m in notices.sent]


def new_card(client: stripe.StripeClient, customer: str, number: str) -> None:
    """A new default card, the Sources way (localstripe sends `customer.source.created` and
    `customer.updated` for it)."""
    token = client.v1.tokens.create(
        params={"card": {"number": number, "exp_month": 3, "exp_year": 2031, "cvc": "123"}}
    )
    card = client.v1.customers.payment_sources.create(customer, params={"source": token.id})
    client.v1.customers.update(customer, params={"default_source": card.id})


def fail_renewal(client: stripe.StripeClient, localstripe_url: str, subscription) -> None:
    """A renewal invoice whose payment fails: the member's card now needs 3-D Secure
    (4000008260003178) and the authentication fails, the path on which localstripe sends
    `invoice.payment_failed` (the invoice open, one attempt; the subscription past_due)."""
    new_card(client, subscription.customer, "4000008260003178")
    invoice = client.v1.invoices.create(
        params={"customer": subscription.customer, "subscription": subscription.id}
    )
    invoice = client.v1.invoices.pay(invoice.id)
    intent = client.v1.payment_intents.retrieve(invoice.payment_intent)
    failed = requests.post(
        f"{localstripe_url}/v1/payment_intents/{intent.id}/_authenticate",
        data={"client_secret": intent.client_secret, "success": "false"},
        auth=("sk_test_x", ""),
        timeout=10,
    )
    assert failed.status_code == 200, failed.text


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
