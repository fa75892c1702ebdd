"""Stripe's customers, their default cards and their subscriptions, listed with the official
library's auto-pagination (100 to a page, one page in memory at a time), as the events that
would have told memberflow of them: `providers/stripe.translate` reads them, as it reads a
webhook."""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import stripe
from babel.numbers import is_currency
from sqlalchemy import Engine

from memberflow.ingress.providers import stripe as provider
from memberflow.sync.apply import resumable_sync
from memberflow.sync.checkpoint import Resume
from memberflow.sync.listed import Listed, Summary
from memberflow.sync.pacing import SHARE, Pace, paced

PAGE = {"limit": 100}
# the lists a sync reads, in order: a cut sync resumes in the one it was reading
PHASES = ("customers", "subscriptions", "cards")


def requests_per_second(api_key: str) -> float:
    """Stripe's read limit for the key's mode (100 a second live, 25 in test mode), less a
    share for the business's other integrations."""
    test_mode = api_key.startswith(("sk_test_", "rk_test_"))
    return (25 if test_mode else 100) * SHARE


def client(
    api_key: str, api_base: str | None = None, per_second: float | None = None
) -> stripe.StripeClient:
    """The official client, paced under Stripe's rate limit and waiting out its 429s (the
    library retries connection errors, 409 and 5xx); `api_base` points it at another server
    speaking Stripe's API (tests: localstripe)."""
    addresses = {"api": api_base} if api_base else {}
    pace = Pace(per_second or requests_per_second(api_key))
    return stripe.StripeClient(
        api_key,
        base_addresses=addresses,
        max_network_retries=3,
        http_client=PacedRequests(pace),
    )


class PacedRequests(stripe.RequestsClient):
    """The library's HTTP client, taking its turn before each request and waiting out 429s."""

    def __init__(self, pace: Pace):
        super().__init__()
        self.pace = pace

    def request(self, method, url, headers, post_data=None):
        # patience out on 429s: the 429 goes back, the library raises RateLimitError, and the
        # sync stops at its checkpoint
        answer, _ = paced(
            self.pace,
            lambda: super(PacedRequests, self).request(method, url, headers, post_data),
            lambda answer: (answer[1], answer[2]),
        )
        return answer


def sync(
    engine: Engine,
    stripe_client: stripe.StripeClient,
    *,
    canceled_days: int,
    dry_run: bool,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Lists the business and writes it (`memberflow sync stripe`, the `provider-sync` flow),
    resuming a cut sync from its checkpoint; `SyncStopped` says, for ops, why it could not go
    on."""

    def listing(summary: Summary, resume: Resume | None, read_at: datetime) -> Iterator[Listed]:
        return listed(
            stripe_client,
            read_at=read_at,
            canceled_days=canceled_days,
            summary=summary,
            resume=resume,
        )

    try:
        return resumable_sync(
            engine, provider.NAME, provider.translate, listing, dry_run=dry_run, progress=progress
        )
    except STOPPING as error:
        raise SyncStopped(stopped(error)) from None


class SyncStopped(RuntimeError):
    """The sync could not go on; what was written before is whole, and the next sync resumes
    after it."""


# what stops a sync or a reconcile: the key, its permissions, Stripe out of reach or its rate
# limit hit for longer than the sync's patience
STOPPING = (
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.APIConnectionError,
    stripe.RateLimitError,
)
AGAIN = "each object written is whole: run it again, it resumes where it stopped"


def stopped(error: stripe.StripeError) -> str:
    """Why, for ops, and what to do."""
    if isinstance(error, stripe.AuthenticationError):
        return "Stripe refused the key: check it is whole, and live or test as meant"
    if isinstance(error, stripe.PermissionError):
        return (
            f"the key may not read what this needs ({error.user_message}): give it read access "
            "to customers, payment methods, products, subscriptions, invoices and events"
        )
    if isinstance(error, stripe.RateLimitError):
        return (
            "Stripe kept answering 429 (too many requests) for over 5 minutes: another "
            f"integration may be using the account's limit; {AGAIN}"
        )
    return f"cannot reach Stripe ({error.user_message}); {AGAIN}"


def listed(
    stripe_client: stripe.StripeClient,
    *,
    read_at: datetime,
    canceled_days: int,
    summary: Summary,
    resume: Resume | None = None,
) -> Iterator[Listed]:
    """Every customer, then every subscription of any status but those canceled more than
    `canceled_days` ago (each with its latest invoice when its payment failed), then each
    customer's default card (on their subscriptions); what it leaves out goes to `summary`.
    Streamed: one page of each list in memory at a time. With `resume`, from where a cut sync
    stopped."""
    start = PHASES.index(resume.phase) if resume else 0
    after = resume.after if resume else None
    if start == 0:
        for customer in _customers(stripe_client, after=after):
            if customer.get("deleted"):
                summary.skip("customer", customer["id"], "deleted at Stripe")
                continue
            event = _event("customer.updated", customer, read_at)
            yield Listed("customer", customer["id"], event, ("customers", customer["id"]))
    if start <= 1:
        names = {product.id: product.name for product in _products(stripe_client)}
        subscriptions_after = after if start == 1 else None
        yield from _subscriptions(
            stripe_client, read_at, canceled_days, summary, names, subscriptions_after
        )
    # last: a card is kept on the member's subscriptions, which must be there first
    for customer in _customers(stripe_client, cards=True, after=after if start == 2 else None):
        if customer.get("deleted"):
            continue
        card = _default_card(stripe_client, customer)
        if card is None:  # dunning cannot ask for a new card it knows nothing of
            summary.note("customer", customer["id"], "no card on file")
            continue
        event = _event("payment_method.updated", card, read_at)
        yield Listed("card", card["id"], event, ("cards", customer["id"]))


def _customers(
    stripe_client: stripe.StripeClient, *, cards: bool = False, after: str | None = None
) -> Iterator[dict]:
    """Every customer (after the customer `after`, in Stripe's order); with `cards`, their
    default card comes expanded in the page (one request per 100 customers, not one more per
    customer: 100,000 customers are 1,000 requests)."""
    params = {**PAGE, "expand": CARD_EXPANSIONS} if cards else dict(PAGE)
    if after:
        params["starting_after"] = after
    for found in stripe_client.v1.customers.list(params=params).auto_paging_iter():
        yield found.to_dict()


CARD_EXPANSIONS = ["data.invoice_settings.default_payment_method", "data.default_source"]


def _products(stripe_client: stripe.StripeClient) -> Iterator[stripe.Product]:
    """A business has a handful of products: their names are kept while the sync runs."""
    yield from stripe_client.v1.products.list(params=PAGE).auto_paging_iter()


def _subscriptions(
    stripe_client: stripe.StripeClient,
    read_at: datetime,
    canceled_days: int,
    summary: Summary,
    product_names: dict[str, str],
    after: str | None,
) -> Iterator[Listed]:
    oldest = read_at - timedelta(days=canceled_days)
    params = {**PAGE, "status": "all", "expand": ["data.latest_invoice"]}
    if after:
        params["starting_after"] = after
    subscriptions = stripe_client.v1.subscriptions.list(params=params)
    for found in subscriptions.auto_paging_iter():
        subscription = _named_products(found.to_dict(), product_names)
        ended = subscription.get("ended_at") or subscription.get("canceled_at")
        deleted = subscription.get("status") == "canceled"
        if deleted and ended and ended < oldest.timestamp():
            why = f"canceled over {canceled_days} days ago"
            summary.skip("subscription", subscription["id"], why)
            continue
        plan = subscription.get("plan") or {}
        currency = str(subscription.get("currency") or plan.get("currency") or "").upper()
        if currency and not is_currency(currency):
            what = f"currency {currency} is not one memberflow knows: amounts show as numbers"
            summary.note("subscription", subscription["id"], what)
        items = (subscription.get("items") or {}).get("data") or []
        if len(items) > 1:
            what = f"{len(items)} items: memberflow follows the first (its product and amount)"
            summary.note("subscription", subscription["id"], what)
        kind = "customer.subscription.deleted" if deleted else "customer.subscription.updated"
        # its cancellation, if any, names the fact it records: the same one at every sync
        said = subscription.get("canceled_at") or "live"
        event = _event(kind, subscription, read_at, f"_{said}")
        failed = _failed_invoice(subscription, read_at)
        checkpoint = ("subscriptions", subscription["id"])
        # the checkpoint moves once the subscription and its failed invoice are both written
        yield Listed("subscription", subscription["id"], event, None if failed else checkpoint)
        if failed is not None:
            yield Listed(failed.kind, failed.object_id, failed.event, checkpoint)


def _named_products(subscription: dict, names: dict[str, str]) -> dict:
    """The subscription with its product expanded to its name, as Stripe sends it when asked
    to expand it (four levels is Stripe's limit, and an item's price's product is five)."""
    holders = [subscription.get("plan")]
    for item in (subscription.get("items") or {}).get("data") or []:
        holders += [item.get("price"), item.get("plan")]
    for holder in holders:
        product = holder.get("product") if isinstance(holder, dict) else None
        if isinstance(product, str) and product in names:
            holder["product"] = {"id": product, "object": "product", "name": names[product]}
    return subscription


def _failed_invoice(subscription: dict, read_at: datetime) -> Listed | None:
    """The subscription's latest invoice (expanded in the page) when Stripe tried to charge it
    and could not and it is still open: the failed payment dunning is for (the hourly dunning
    run opens its case). An open invoice not yet tried is no failure."""
    invoice = subscription.get("latest_invoice")
    if not isinstance(invoice, dict) or invoice.get("status") != "open":
        return None
    if not invoice.get("attempt_count"):
        return None
    event = _event("invoice.payment_failed", invoice, read_at, f"_{invoice['attempt_count']}")
    return Listed("invoice", invoice["id"], event)


def _default_card(stripe_client: stripe.StripeClient, customer: dict) -> dict | None:
    """The card Stripe charges: the default payment method, else the default source (older
    integrations, localstripe), else the customer's first card; as a PaymentMethod. Read from
    the page when it came expanded, else asked for."""
    default = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(default, str):
        default = stripe_client.v1.payment_methods.retrieve(default).to_dict()
    if isinstance(default, dict):
        return default
    source = customer.get("default_source")
    if isinstance(source, str) and source.startswith("card_"):
        found = stripe_client.v1.customers.payment_sources.retrieve(customer["id"], source)
        source = found.to_dict()
    if isinstance(source, dict) and source.get("object") == "card":
        return _as_payment_method(source, customer["id"])
    if source is not None:
        return None  # a bank account or another kind of source: no card to remind about
    cards = stripe_client.v1.payment_methods.list(
        params={"customer": customer["id"], "type": "card", "limit": 1}
    )
    return cards.data[0].to_dict() if cards.data else None


def _as_payment_method(card: dict, customer: str) -> dict:
    """A legacy Card source in the PaymentMethod's shape: the one the provider reads."""
    fields = ("brand", "last4", "exp_month", "exp_year")
    details = {name: card.get(name) for name in fields}
    details["brand"] = (details["brand"] or "").lower() or None
    return {"id": card["id"], "object": "payment_method", "type": "card"} | {
        "customer": customer,
        "card": details,
    }


def _event(event_type: str, obj: dict, read_at: datetime, suffix: str = "") -> dict:
    """The event Stripe would have sent, dated when the object was read (`sync_` ids: never a
    real event's)."""
    return {
        "id": f"sync_{obj['id']}{suffix}",
        "object": "event",
        "type": event_type,
        "created": int(read_at.timestamp()),
        "data": {"object": obj},
    }
