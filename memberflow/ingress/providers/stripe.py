"""Stripe: `Stripe-Signature` checked with Stripe's own library, events read in both the older
(`invoice.subscription`) and the newer (`invoice.parent.subscription_details`) API shapes."""

from datetime import UTC, datetime

import stripe

from memberflow.core.settings import Settings
from memberflow.ingress import changes as c
from memberflow.ingress.changes import Change, Received, Rejected, lookup
from memberflow.ingress.provider import (
    OBJECT,
    Provider,
    SignedRequest,
    header,
    json_body,
    required_secret,
)

NAME = "stripe"
SIGNATURE_HEADER = "stripe-signature"

# Stripe's statuses, in memberflow's words (the rest are kept as they are).
_STATUSES = {"unpaid": "past_due", "incomplete_expired": "canceled"}


def authenticate(received: Received, secrets: list[str], tolerance: int) -> None:
    """Raises Rejected(401) unless one of `secrets` (old and new, while rolling) signed the body
    less than `tolerance` seconds ago. Stripe sends one `v1` per active secret."""
    header = received.headers.get(SIGNATURE_HEADER)
    if not header:
        raise Rejected(401, "no Stripe-Signature header: is this really from Stripe?")
    payload = c.utf8_text(received.body)
    problem = "no secret configured"
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
            return
        except stripe.SignatureVerificationError as error:
            problem = str(error.user_message or error)
    raise Rejected(
        401, f"Stripe signature check failed: {problem} (check MEMBERFLOW_STRIPE_WEBHOOK_SECRET)"
    )


def translate(received: Received) -> Change:
    event = c.parse_json_object(received.body)
    event_type = lookup(event, "type", str, required=True)
    base = {
        "provider": NAME,
        "event_id": lookup(event, "id", str, required=True),
        "event_type": event_type,
        "occurred_at": _time(lookup(event, "created", int, required=True)),
    }
    obj = lookup(event, "data.object", dict, required=True)
    reader = _READERS.get(event_type)
    if reader is None:
        return c.ignored(base, f"memberflow does not act on Stripe's {event_type}")
    return reader(obj, event, base)


def _time(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise c.malformed("a timestamp", "seconds since 1970") from None


def _upper(code: str | None) -> str | None:
    return code.upper() if code else None


# -- invoices ----------------------------------------------------------------------------------


def _invoice_subscription_id(invoice: dict) -> str | None:
    old = invoice.get("subscription")
    if isinstance(old, dict):
        return lookup(old, "id", str)
    if old:
        return lookup(invoice, "subscription", str)
    return lookup(invoice, "parent.subscription_details.subscription", str)


def _first_line(invoice: dict) -> dict:
    lines = lookup(invoice, "lines.data", list) or []
    return lines[0] if lines and isinstance(lines[0], dict) else {}


def _line_product(line: dict) -> str | None:
    product = lookup(line, "price.product") or lookup(line, "pricing.price_details.product")
    if isinstance(product, dict):
        product = product.get("id")
    return product if isinstance(product, str) else None


def _decline(invoice: dict) -> dict:
    """Decline and advice codes, from the payment intent or the charge when Stripe expanded them
    (a plain id carries nothing). The most specific code wins."""
    intent, charge = invoice.get("payment_intent"), invoice.get("charge")
    error = lookup(intent, "last_payment_error", dict) if isinstance(intent, dict) else None
    sources = {"error": error or {}, "charge": charge if isinstance(charge, dict) else {}}

    def first(*places: str) -> str | None:
        for place in places:
            source, _, path = place.partition(":")
            if value := lookup(sources[source], path, str):
                return value
        return None

    found = {
        "decline_code": first(
            "error:decline_code", "charge:outcome.reason", "error:code", "charge:failure_code"
        ),
        "advice_code": first("error:advice_code", "charge:outcome.advice_code"),
        "failure_message": first("error:message", "charge:failure_message"),
    }
    return {key: value for key, value in found.items() if value}


def _invoice(obj: dict, event: dict, base: dict) -> Change:
    customer = lookup(obj, "customer", str, required=True)
    subscription_id = _invoice_subscription_id(obj)
    if not subscription_id:
        raise c.missing("data.object.subscription")
    first, last = c.split_name(lookup(obj, "customer_name", str))
    line = _first_line(obj)
    paid = base["event_type"] != "invoice.payment_failed"
    decline = {} if paid else _decline(obj)
    invoice = c.InvoiceData(
        external_id=lookup(obj, "id", str, required=True),
        amount_minor=lookup(obj, "amount_due", int),
        currency=_upper(lookup(obj, "currency", str)),
        status="paid" if paid else (lookup(obj, "status", str) or "open"),
        attempt_count=lookup(obj, "attempt_count", int),
        hosted_url=lookup(obj, "hosted_invoice_url", str),
        next_attempt_at=_time(lookup(obj, "next_payment_attempt", int)),
        paid_at=_time(lookup(obj, "status_transitions.paid_at", int)) if paid else None,
        **decline,
    )
    return Change(
        **base,
        event=c.PAYMENT_SUCCEEDED if paid else c.PAYMENT_FAILED,
        member=c.MemberData(customer, lookup(obj, "customer_email", str), first, last),
        subscription=c.SubscriptionData(
            external_id=subscription_id,
            product_external_id=_line_product(line),
            amount_minor=lookup(line, "amount", int),
            currency=_upper(lookup(obj, "currency", str)),
            interval=lookup(line, "price.recurring.interval", str),
            current_period_end=_time(lookup(line, "period.end", int)),
        ),
        invoice=invoice,
        details={"billing_reason": lookup(obj, "billing_reason", str)},
    )


def _upcoming(obj: dict, event: dict, base: dict) -> Change:
    # An upcoming invoice has no id yet: it announces a charge, it creates no invoice.
    subscription_id = _invoice_subscription_id(obj)
    if not subscription_id:
        raise c.missing("data.object.subscription")
    return Change(
        **base,
        event=c.INVOICE_UPCOMING,
        member=c.MemberData(lookup(obj, "customer", str, required=True)),
        subscription=c.SubscriptionData(external_id=subscription_id),
        details={
            "amount_minor": lookup(obj, "amount_due", int),
            "currency": _upper(lookup(obj, "currency", str)),
            "next_payment_attempt": lookup(obj, "next_payment_attempt", int),
        },
    )


# -- subscriptions -----------------------------------------------------------------------------

_SUBSCRIPTION_EVENTS = {
    "customer.subscription.created": c.SUBSCRIPTION_CREATED,
    "customer.subscription.updated": c.SUBSCRIPTION_UPDATED,
    "customer.subscription.deleted": c.SUBSCRIPTION_CANCELED,
    "customer.subscription.paused": c.SUBSCRIPTION_PAUSED,
    "customer.subscription.resumed": c.SUBSCRIPTION_RESUMED,
    "customer.subscription.trial_will_end": c.TRIAL_WILL_END,
}


def _subscription(obj: dict, event: dict, base: dict) -> Change:
    items = lookup(obj, "items.data", list) or []
    item = items[0] if items and isinstance(items[0], dict) else {}
    # a Price, or (older accounts, localstripe) a legacy Plan, which has `amount`, not
    # `unit_amount`, on the item or on the subscription itself
    price = lookup(item, "price", dict) or lookup(item, "plan", dict) or lookup(obj, "plan", dict)
    price = price or {}
    product = price.get("product")
    unit = lookup(price, "unit_amount", int)
    if unit is None:
        unit = lookup(price, "amount", int)
    quantity = lookup(item, "quantity", int) or 1
    status = lookup(obj, "status", str)
    period_end = lookup(obj, "current_period_end", int) or lookup(item, "current_period_end", int)
    subscription = c.SubscriptionData(
        external_id=lookup(obj, "id", str, required=True),
        status=_STATUSES.get(status, status),
        product_external_id=product.get("id") if isinstance(product, dict) else product,
        # only an expanded product (a sync's) carries its name; a plain id does not
        product_name=product.get("name") if isinstance(product, dict) else None,
        amount_minor=unit * quantity if unit is not None else None,
        currency=_upper(lookup(price, "currency", str) or lookup(obj, "currency", str)),
        interval=lookup(price, "recurring.interval", str) or lookup(price, "interval", str),
        current_period_end=_time(period_end),
        trial_end=_time(lookup(obj, "trial_end", int)),
        # when the member (or memberflow) asked: a period-end cancellation keeps that moment
        # when the deletion comes (its `ended_at` is the access end, not the cancellation)
        canceled_at=_time(lookup(obj, "canceled_at", int) or lookup(obj, "ended_at", int)),
        ended_at=_time(lookup(obj, "ended_at", int)),
        cancel_reason=lookup(obj, "cancellation_details.reason", str),
        cancel_feedback=lookup(obj, "cancellation_details.feedback", str),
        cancel_comment=lookup(obj, "cancellation_details.comment", str),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        started_at=_time(lookup(obj, "start_date", int)),
        pause_resumes_at=_time(lookup(obj, "pause_collection.resumes_at", int)),
        # the whole object is sent: no pause_collection means no pause
        unpaused=obj.get("pause_collection") is None,
    )
    if base["event_type"] == "customer.subscription.deleted":
        subscription.status, subscription.cancel_at_period_end = "canceled", False
    return Change(
        **base,
        event=_SUBSCRIPTION_EVENTS[base["event_type"]],
        member=c.MemberData(lookup(obj, "customer", str, required=True)),
        subscription=subscription,
        details={"cancel_at_period_end": bool(obj.get("cancel_at_period_end"))},
    )


# -- customers and cards -----------------------------------------------------------------------


def _customer(obj: dict, event: dict, base: dict) -> Change:
    first, last = c.split_name(lookup(obj, "name", str))
    changed = lookup(event, "data.previous_attributes", dict) or {}
    card_changed = "invoice_settings" in changed or "default_source" in changed
    return Change(
        **base,
        event=c.CARD_UPDATED if card_changed else c.MEMBER_UPDATED,
        member=c.MemberData(
            lookup(obj, "id", str, required=True), lookup(obj, "email", str), first, last
        ),
        details={"changed": sorted(changed)},
    )


def _payment_method(obj: dict, event: dict, base: dict) -> Change:
    customer = lookup(obj, "customer", str)
    if not customer:
        return c.ignored(base, "a payment method attached to no customer")
    return _new_card(base, customer, lookup(obj, "card", dict) or {})


def _source(obj: dict, event: dict, base: dict) -> Change:
    """A card added to a customer the older way (Sources: `customer.source.created`): the card's
    details are on the object itself, not under `card` as on a PaymentMethod."""
    customer = lookup(obj, "customer", str)
    if lookup(obj, "object", str) != "card" or not customer:
        return c.ignored(base, "a source that is not a customer's card")
    return _new_card(base, customer, obj)


def _new_card(base: dict, customer: str, card: dict) -> Change:
    return Change(
        **base,
        event=c.CARD_UPDATED,
        member=c.MemberData(customer),
        card=c.CardData(
            last4=lookup(card, "last4", str),
            exp_month=lookup(card, "exp_month", int),
            exp_year=lookup(card, "exp_year", int),
        ),
        details={"brand": lookup(card, "brand", str)},
    )


_READERS = {
    "invoice.payment_failed": _invoice,
    "invoice.payment_succeeded": _invoice,
    "invoice.paid": _invoice,
    "invoice.upcoming": _upcoming,
    "customer.created": _customer,
    "customer.updated": _customer,
    "payment_method.attached": _payment_method,
    "payment_method.updated": _payment_method,
    "customer.source.created": _source,
    "customer.source.updated": _source,
    **dict.fromkeys(_SUBSCRIPTION_EVENTS, _subscription),
}
EVENT_TYPES = tuple(_READERS)


def _sign(body: bytes, settings: Settings) -> SignedRequest:
    required_secret(settings, "stripe_webhook_secret")
    secret = settings.stripe_webhook_secrets()[-1]  # the newest, while rolling
    header_value = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    return SignedRequest(
        body, {"Content-Type": "application/json", "Stripe-Signature": header_value}
    )


PROVIDER = Provider(
    name=NAME,
    setting="stripe_webhook_secret",
    authenticate=lambda received, settings: authenticate(
        received, settings.stripe_webhook_secrets(), settings.webhook_tolerance_seconds
    ),
    translate=lambda received, settings: translate(received),
    sign=_sign,
    summary="Stripe events, signed with Stripe-Signature",
    openapi={
        "parameters": [header("Stripe-Signature", "t=...,v1=... as Stripe sends it.")],
        "requestBody": json_body(
            {
                "type": "object",
                "required": ["id", "type", "created", "data"],
                "properties": {
                    "id": {"type": "string", "example": "evt_1"},
                    "type": {"type": "string", "enum": list(EVENT_TYPES)},
                    "created": {"type": "integer"},
                    "data": {
                        "type": "object",
                        "required": ["object"],
                        "properties": {"object": OBJECT},
                    },
                },
            }
        ),
    },
)
