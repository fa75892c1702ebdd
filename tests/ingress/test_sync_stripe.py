"""`memberflow sync stripe` against localstripe (a stateful fake Stripe server others wrote,
test-only, on loopback): customers, payment methods, subscriptions and their list pagination are
localstripe's; nothing here is a fake of our own. The objects go through the Stripe provider's
own `translate` and the ingress's own `apply_change`."""

import json
from collections.abc import Iterator

import pytest
import stripe
from sqlalchemy import func, select
from typer.testing import CliRunner

from memberflow.core.models import Member, Product, Subscription, Touchpoint
from tests.support import localstripe
from tests.support.clock import at
from tests.support.factories import add_subscription


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with localstripe.running() as url:
        yield url


@pytest.fixture
def business(localstripe_url) -> stripe.StripeClient:
    """An existing Stripe business: 120 members (more than a page) on a monthly plan with a
    card, one of whom canceled."""
    import requests

    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
    plan = {"id": "gold", "amount": 1900, "currency": "usd", "interval": "month"}
    client.v1.plans.create(params={**plan, "product": {"name": "Gold"}})
    for n in range(120):
        card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2030, "cvc": "123"}
        token = client.v1.tokens.create(params={"card": card})
        customer = client.v1.customers.create(
            params={"email": f"m{n}@example.com", "name": f"Member {n}", "source": token.id}
        )
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"plan": "gold"}]}
        )
        if n == 7:
            client.v1.subscriptions.cancel(subscription.id)
    return client


def sync(localstripe_url, *more: str):
    from memberflow.cli import app

    args = ["sync", "stripe", "--api-key", "sk_test_x", "--api-base", localstripe_url]
    args += ["--requests-per-second", "1000", *more]  # pacing has its own tests
    return CliRunner().invoke(app, args, catch_exceptions=False)


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        members = conn.execute(select(func.count()).select_from(Member)).scalar_one()
        subscriptions = conn.execute(select(func.count()).select_from(Subscription)).scalar_one()
        canceled = conn.execute(
            select(func.count()).where(Subscription.status == "canceled")
        ).scalar_one()
    return members, subscriptions, canceled


def test_a_first_sync_brings_the_business_in_and_a_second_changes_nothing(
    settings, engine, business, localstripe_url
):
    dry = sync(localstripe_url, "--dry-run")
    assert dry.exit_code == 0 and "dry run: nothing was written" in dry.output
    assert counts(engine) == (0, 0, 0)
    said = {line.split()[0]: line.split()[1:] for line in dry.output.splitlines()[2:5]}
    # exact: the subscriptions found the members the dry run had listed before them
    assert said["customer"][0] == "120" and said["subscription"][0] == "120"

    first = sync(localstripe_url)
    assert first.exit_code == 0, first.output
    assert counts(engine) == (120, 120, 1)
    rows = {line.split()[0]: line.split()[1:] for line in first.output.splitlines()[2:5]}
    assert rows["customer"][:3] == ["120", "0", "0"]  # new, changed, unchanged
    with engine.connect() as conn:
        cards = conn.execute(select(Subscription.card_last4, Subscription.card_exp_year)).all()
    assert set(cards) == {("4242", 2030)}  # the default card, as a webhook would have set it
    with engine.connect() as conn:  # the product under its name, not its Stripe id
        assert conn.execute(select(Product.name)).scalars().all() == ["Gold"]

    again = sync(localstripe_url)
    assert again.exit_code == 0, again.output
    for line in again.output.splitlines()[2:5]:
        kind, new, changed, unchanged, _ = line.split()
        assert (new, changed) == ("0", "0") and int(unchanged) > 0, again.output
    assert counts(engine) == (120, 120, 1)
    with engine.connect() as conn:  # a sync starts no message by itself
        assert conn.execute(select(func.count()).select_from(Touchpoint)).scalar_one() == 0


def test_a_cut_sync_resumes_where_it_stopped_and_writes_nothing_twice(
    settings, engine, business, localstripe_url
):
    """Ctrl-C (or a network error) after 250 objects, in the subscriptions' list: what was
    written is the batches committed before it (200 objects: every customer, 80
    subscriptions), the next sync resumes after them, and the summary adds up as one sync's."""
    from memberflow.sync import checkpoint
    from memberflow.sync import stripe as stripe_sync

    def interrupted(summary):
        if summary.total == 250:
            raise KeyboardInterrupt

    client = stripe_sync.client("sk_test_x", localstripe_url, per_second=1000)
    with pytest.raises(KeyboardInterrupt):
        stripe_sync.sync(engine, client, canceled_days=180, dry_run=False, progress=interrupted)
    assert counts(engine)[:2] == (120, 80)
    cut = checkpoint.unfinished(engine, "stripe")
    assert (cut.phase, cut.summary.total) == ("subscriptions", 200)

    resumed = sync(localstripe_url)
    assert resumed.exit_code == 0, resumed.output
    assert (
        "resuming the stripe sync" in resumed.output
        and "subscriptions after sub_" in resumed.output
    )
    rows = {line.split()[0]: line.split()[1:] for line in resumed.output.splitlines()[3:6]}
    # one sync's summary: the customers were not listed again (they would count unchanged)
    assert rows["customer"][:3] == ["120", "0", "0"] and rows["subscription"][:2] == ["120", "0"]
    assert counts(engine) == (120, 120, 1)
    assert checkpoint.unfinished(engine, "stripe") is None  # the next sync starts afresh

    checkpoint_of_a_cut = stripe_sync.client("sk_test_x", localstripe_url, per_second=1000)
    with pytest.raises(KeyboardInterrupt):
        stripe_sync.sync(
            engine, checkpoint_of_a_cut, canceled_days=180, dry_run=False, progress=interrupted
        )
    restarted = sync(localstripe_url, "--restart")  # from the beginning: all known already
    assert "resuming" not in restarted.output
    rows = {line.split()[0]: line.split()[1:] for line in restarted.output.splitlines()[2:5]}
    assert rows["customer"][:3] == ["0", "0", "120"]


def test_a_newer_webhook_is_not_overwritten_by_the_sync(
    settings, engine, business, localstripe_url
):
    [first] = business.v1.subscriptions.list(params={"limit": 1}).data
    # memberflow learned from a webhook of the future (a clock ahead, a late read) that it ended
    add_subscription(engine, first.id, current_period_end=at("2027-01-01 00:00"), status="canceled")
    with engine.begin() as conn:
        conn.execute(
            Subscription.__table__.update()
            .where(Subscription.external_id == first.id)
            .values(provider_updated_at=at("2030-01-01 00:00"))
        )
    done = sync(localstripe_url)
    assert "newer news of it (a webhook)" in done.output
    with engine.connect() as conn:
        status = conn.execute(
            select(Subscription.status).where(Subscription.external_id == first.id)
        ).scalar_one()
    assert status == "canceled"


def test_a_key_stripe_refuses_says_so(settings, engine, localstripe_url):
    from memberflow.cli import app

    args = ["sync", "stripe", "--api-key", "pk_test_public", "--api-base", localstripe_url]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 1
    assert "Stripe refused the key" in done.output or "may not read" in done.output


@pytest.mark.usefixtures("prefect_harness")
def test_the_provider_sync_flow_does_it_from_the_ui_with_the_summary_as_an_artifact(
    settings, engine, business, localstripe_url
):
    from blocks.gateways.stripe_gateway import StripeGateway
    from flows.provider_sync import provider_sync
    from tests.support.prefect_api import flow_run_artifacts

    StripeGateway(api_key="sk_test_x", api_base=localstripe_url).save("sync", overwrite=True)
    state = provider_sync(gateway="memberflow-stripe-gateway/sync", return_state=True)
    assert state.is_completed(), state.message
    assert counts(engine) == (120, 120, 1)
    artifacts = flow_run_artifacts(state.state_details.flow_run_id)
    [table] = [a for a in artifacts if a["key"] == "stripe-sync"]
    rows = {row["kind"]: row for row in json.loads(table["data"])}
    assert (rows["customer"]["new"], rows["subscription"]["new"]) == (120, 120)

    wrong = provider_sync(gateway="", return_state=True)  # the sandbox has no Stripe key
    assert wrong.is_failed() and "needs a Stripe Gateway Block" in str(
        wrong.result(raise_on_failure=False)
    )


def test_what_ops_should_know_is_said_by_id(settings, engine, localstripe_url):
    """A member without a card (dunning cannot ask for a new one it knows nothing of) and a
    customer deleted at Stripe are named; the rest of the sync goes on."""
    import requests

    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
    cardless = client.v1.customers.create(params={"email": "nocard@example.com"})
    gone = client.v1.customers.create(params={"email": "gone@example.com"})
    client.v1.customers.delete(gone.id)
    # a member with two subscriptions, one of them in a currency memberflow does not know
    plans = [("gold", "usd"), ("odd", "zzz")]
    for plan_id, currency in plans:
        plan = {"id": plan_id, "amount": 1900, "currency": currency, "interval": "month"}
        client.v1.plans.create(params={**plan, "product": {"name": plan_id.title()}})
    card = {"number": "4242424242424242", "exp_month": 8, "exp_year": 2030, "cvc": "123"}
    token = client.v1.tokens.create(params={"card": card})
    both = client.v1.customers.create(params={"email": "both@example.com", "source": token.id})
    made = [
        client.v1.subscriptions.create(params={"customer": both.id, "items": [{"plan": plan}]})
        for plan, _ in plans
    ]
    done = sync(localstripe_url)
    assert done.exit_code == 0, done.output
    assert f"note: customer {cardless.id}: no card on file" in done.output
    assert f"note: subscription {made[1].id}: currency ZZZ is not one" in done.output
    with engine.connect() as conn:
        emails = set(conn.execute(select(Member.email)).scalars())
        cards = conn.execute(
            select(Subscription.external_id, Subscription.card_last4)
            .join(Member)
            .where(Member.email == "both@example.com")
        ).all()
    assert emails == {"nocard@example.com", "both@example.com"}
    assert sorted(cards) == sorted((s.id, "4242") for s in made)  # the card on both


def test_a_subscription_whose_last_payment_failed_brings_its_open_invoice(
    settings, engine, localstripe_url
):
    """localstripe's card 4000000000000341 attaches, then every charge fails: the subscription's
    first invoice stays open after a declined attempt."""
    import requests

    from memberflow.core.models import Invoice

    requests.delete(f"{localstripe_url}/_config/data", timeout=5)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url})
    plan = {"id": "gold", "amount": 1900, "currency": "usd", "interval": "month"}
    client.v1.plans.create(params={**plan, "product": {"name": "Gold"}})
    card = {"number": "4000000000000341", "exp_month": 8, "exp_year": 2030, "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    customer = client.v1.customers.create(
        params={
            "email": "declined@example.com",
            "payment_method": method.id,
            "invoice_settings": {"default_payment_method": method.id},
        }
    )
    client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"plan": "gold"}]})
    done = sync(localstripe_url)
    assert done.exit_code == 0, done.output
    again = sync(localstripe_url)
    assert "invoice" in again.output
    with engine.connect() as conn:
        rows = conn.execute(select(Invoice.status, Invoice.attempt_count)).all()
    assert rows == [("open", 1)]
    invoice_row = [line for line in again.output.splitlines() if line.startswith("invoice")]
    assert invoice_row[0].split()[1:4] == ["0", "0", "1"]  # a second sync changes nothing
