"""MemberMouse push notifications: flat parameters (form body or query string) such as
`event_type`, `member_id`, `email`, `membership_level`, `status`, `order_number`,
`order_total`. MemberMouse cannot sign, so a secret token rides in the URL (`?token=`) or the
`X-Memberflow-Token` header."""

import hmac
import json
from urllib.parse import parse_qsl, urlencode

from memberflow.core.schedule import add_interval
from memberflow.core.settings import Settings
from memberflow.ingress import changes as c
from memberflow.ingress.changes import Change, Received, Rejected, lookup
from memberflow.ingress.provider import (
    Provider,
    SignedRequest,
    header,
    required_secret,
)

NAME = "membermouse"
TOKEN_HEADER = "x-memberflow-token"
TOKEN_PARAMETER = "token"

# MemberMouse's numeric member statuses
_STATUSES = {
    "1": "active",
    "2": "canceled",
    "3": "locked",
    "4": "paused",
    "5": "past_due",  # "overdue"
    "6": "pending",
    "7": "error",
    "8": "canceled",  # "expired"
    "9": "active",  # "pending cancellation": still paid up until the period ends
}


def authenticate(received: Received, token: str) -> None:
    sent = received.headers.get(TOKEN_HEADER) or received.query.get(TOKEN_PARAMETER, "")
    if not sent:
        raise Rejected(401, "no token: add ?token=... to the URL you gave MemberMouse")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise Rejected(401, "wrong token (check MEMBERFLOW_MEMBERMOUSE_TOKEN)")


def parameters(received: Received) -> dict[str, str]:
    """The notification's parameters, from the query string and a form body, without the token."""
    params = {k: v for k, v in received.query.items() if k != TOKEN_PARAMETER}
    if received.body:
        text = c.utf8_text(received.body)
        try:
            form = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise Rejected(400, "the body is not form data (name=value&...)") from None
        params.update((k, v) for k, v in form if k != TOKEN_PARAMETER)
    return params


def stored_body(params: dict[str, str]) -> bytes:
    return urlencode(sorted(params.items())).encode()


def translate(received: Received, currency: str) -> Change:
    params = parameters(received)
    event_type = lookup(params, "event_type", str, required=True)
    base = c.content_identified(NAME, event_type, stored_body(params), received.received_at)
    reader = _READERS.get(event_type)
    if reader is None:
        return c.ignored(base, f"memberflow does not act on MemberMouse's {event_type}")
    base["member"] = c.MemberData(
        external_id=lookup(params, "member_id", str, required=True),
        email=lookup(params, "email", str),
        first_name=lookup(params, "first_name", str),
        last_name=lookup(params, "last_name", str),
    )
    return reader(params, base, currency)


def _subscription(params: dict, currency: str, status: str | None) -> c.SubscriptionData:
    level = lookup(params, "membership_level", str, required=True)
    products = _products(params)
    return c.SubscriptionData(
        # one subscription per member and membership level
        external_id=f"mm-{params['member_id']}-{level}",
        status=status,
        product_external_id=level,
        product_name=lookup(params, "membership_level_name", str),
        amount_minor=c.amount(products[0].get("amount"), "order_products", currency)
        if products
        else None,
        currency=currency,
        interval=_INTERVALS.get(products[0].get("rebill_frequency")) if products else None,
    )


_INTERVALS = {"days": "day", "weeks": "week", "months": "month", "years": "year"}


def _products(params: dict) -> list[dict]:
    text = lookup(params, "order_products", str)
    if not text:
        return []
    try:
        products = json.loads(text)
    except json.JSONDecodeError:
        raise c.malformed("order_products", "a JSON list of products") from None
    if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
        raise c.malformed("order_products", "a JSON list of products")
    return products


def _payment(params: dict, base: dict, currency: str) -> Change:
    failed = base["event_type"] == "mm_payment_rebill_declined"
    order = lookup(params, "order_number", str, required=True)
    transaction = lookup(params, "order_transaction_id", str)
    day = base["occurred_at"].date().isoformat()
    subscription = _subscription(params, currency, "past_due" if failed else "active")
    if not failed and subscription.interval in ("month", "year"):
        # paid now: the next rebill is one interval away
        subscription.current_period_end = add_interval(base["occurred_at"], subscription.interval)
    return Change(
        **base,
        event=c.PAYMENT_FAILED if failed else c.PAYMENT_SUCCEEDED,
        subscription=subscription,
        invoice=c.InvoiceData(
            # a declined rebill has no transaction yet: one bill per order and day
            external_id=f"mm-{order}-{transaction or day}",
            amount_minor=c.amount(lookup(params, "order_total"), "order_total", currency),
            currency=currency,
            status="open" if failed else "paid",
            paid_at=None if failed else base["occurred_at"],
        ),
        # MemberMouse does not say which declined bill a payment settles: it settles them all
        details={"order_number": order, "settles_open_invoices": not failed},
    )


def _status_change(params: dict, base: dict, currency: str) -> Change:
    status = _STATUSES.get(lookup(params, "status", str) or "", None)
    if status is None:
        raise c.malformed("status", "a MemberMouse status number (1 to 9)")
    event = {
        "canceled": c.SUBSCRIPTION_CANCELED,
        "paused": c.SUBSCRIPTION_PAUSED,
    }.get(status, c.SUBSCRIPTION_UPDATED)
    subscription = _subscription(params, currency, status)
    if status == "canceled":
        subscription.cancel_reason = lookup(params, "status_name", str) or "canceled"
    # "pending cancellation": paid up until the period ends, then canceled
    subscription.cancel_at_period_end = params.get("status") == "9"
    return Change(**base, event=event, subscription=subscription)


def _account_update(params: dict, base: dict, currency: str) -> Change:
    return Change(**base, event=c.MEMBER_UPDATED)


_READERS = {
    "mm_payment_rebill_declined": _payment,
    "mm_payment_rebill": _payment,
    "mm_payment_received": _payment,
    "mm_member_status_change": _status_change,
    "mm_member_account_update": _account_update,
}
EVENT_TYPES = tuple(_READERS)


def _sign(body: bytes, settings: Settings) -> SignedRequest:
    """Stored MemberMouse bodies are form data; a JSON object of parameters is accepted too."""
    token = required_secret(settings, "membermouse_token")
    params = json.loads(body) if body.lstrip().startswith(b"{") else None
    form = urlencode(params).encode() if params is not None else body
    return SignedRequest(
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
        {TOKEN_PARAMETER: token},
    )


_FIELDS = (
    "member_id",
    "email",
    "first_name",
    "last_name",
    "membership_level",
    "membership_level_name",
    "status",
    "status_name",
    "order_number",
    "order_transaction_id",
    "order_total",
    "order_products",
)
_FORM_SCHEMA = {
    "type": "object",
    "required": ["event_type", "member_id"],
    "properties": {
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        **{name: {"type": "string"} for name in _FIELDS},
    },
}
_TOKEN = [
    {"name": "token", "in": "query", "required": False, "schema": {"type": "string"}},
    header("X-Memberflow-Token", "The token, if not in the URL."),
]

PROVIDER = Provider(
    name=NAME,
    setting="membermouse_token",
    authenticate=lambda received, settings: authenticate(
        received, settings.secret("membermouse_token")
    ),
    translate=lambda received, settings: translate(received, settings.currency),
    sign=_sign,
    summary="MemberMouse push notifications (form or query parameters)",
    methods=("POST", "GET"),  # MemberMouse can also send its parameters in a GET's query
    stored_body=lambda received: stored_body(parameters(received)),
    openapi={
        "parameters": _TOKEN,
        "requestBody": {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA}},
        },
    },
    get_openapi={
        "parameters": _TOKEN
        + [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in _FORM_SCHEMA["properties"].items()
        ]
    },
)
