"""Stripe subscriptions priced by a legacy Plan (older accounts, localstripe) rather than a
Price: the amount is the Plan's `amount` (a Plan has no `unit_amount`)."""

import json
from datetime import UTC, datetime

from memberflow.ingress.changes import Received
from memberflow.ingress.providers.stripe import translate
from tests.support.webhooks import DATA


def subscription_event(**replace_item) -> bytes:
    event = json.loads((DATA / "stripe" / "customer.subscription.created.json").read_bytes())
    item = event["data"]["object"]["items"]["data"][0]
    item.pop("price")
    item.update(replace_item)
    return json.dumps(event).encode()


PLAN = {
    "id": "gold-monthly",
    "object": "plan",
    "amount": 1900,
    "currency": "usd",
    "interval": "month",
    "product": "prod_Gold",
}


def test_a_legacy_plan_on_the_item_gives_the_amount_currency_and_interval():
    received = Received({}, {}, subscription_event(plan=PLAN, quantity=2), datetime.now(UTC))
    subscription = translate(received).subscription
    assert (subscription.amount_minor, subscription.currency, subscription.interval) == (
        3800,
        "USD",
        "month",
    )
    assert subscription.product_external_id == "prod_Gold"
