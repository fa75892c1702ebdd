"""MemberPress Developer Tools webhooks: `{"event", "type", "data"}`, authenticated by the
`MEMBERPRESS-WEBHOOK-KEY` header. They carry no event id and no event time, so a delivery is
identified by its event name and a hash of its body, and ordered by arrival."""

import hmac
from datetime import UTC, datetime

from memberflow.core.schedule import add_interval
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

NAME = "memberpress"
KEY_HEADER = "memberpress-webhook-key"

_PERIODS = {"days": "day", "weeks": "week", "months": "month", "years": "year"}
_STATUSES = {"cancelled": "canceled", "suspended": "paused", "expired": "canceled"}


def authenticate(received: Received, key: str) -> None:
    sent = received.headers.get(KEY_HEADER, "")
    if not sent:
        raise Rejected(401, "no MemberPress-Webhook-Key header: is this really from MemberPress?")
    if not hmac.compare_digest(sent.encode(), key.encode()):
        raise Rejected(
            401, "wrong MemberPress webhook key (check MEMBERFLOW_MEMBERPRESS_WEBHOOK_KEY)"
        )


def translate(received: Received, currency: str) -> Change:
    envelope = c.parse_json_object(received.body)
    event_type = lookup(envelope, "event", str, required=True)
    data = lookup(envelope, "data", dict, required=True)
    base = c.content_identified(NAME, event_type, received.body, received.received_at)
    reader = _READERS.get(event_type)
    if reader is None:
        return c.ignored(base, f"memberflow does not act on MemberPress's {event_type}")
    return reader(data, base, currency)


def _time(data: dict, path: str) -> datetime | None:
    text = lookup(data, path, str)
    if not text or text.startswith("0000-00-00"):
        return None  # MemberPress writes zeros for "never" (a lifetime membership)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)  # MemberPress sends GMT
    except ValueError:
        raise c.malformed(path, "a date like 2026-11-22 09:00:00") from None


def _object(data: dict, path: str, required: bool = False) -> dict:
    """A member or membership, whether written out (webhooks, the REST API) or named by its id
    alone (a transaction's nested subscription says `"membership": "2420"`)."""
    value = lookup(data, path, required=required)
    if value is None or isinstance(value, dict):
        return value or {}
    if isinstance(value, int | str) and str(value).strip().isdigit():
        return {"id": int(value)}
    raise c.malformed(path, "an object or an id")


def _member(member: dict) -> c.MemberData:
    return c.MemberData(
        external_id=str(lookup(member, "id", int, required=True)),
        email=lookup(member, "email", str),
        first_name=lookup(member, "first_name", str),
        last_name=lookup(member, "last_name", str),
    )


def _subscription(
    sub: dict, currency: str, status: str | None = None, membership: dict | None = None
) -> c.SubscriptionData:
    raw_status = lookup(sub, "status", str)
    membership = (membership or {}) | _object(sub, "membership")
    return c.SubscriptionData(
        external_id=str(lookup(sub, "id", int, required=True)),
        status=status or _STATUSES.get(raw_status, raw_status),
        product_external_id=str(membership["id"]) if membership.get("id") else None,
        product_name=lookup(membership, "title", str),
        amount_minor=c.amount(lookup(sub, "price"), "price", currency),
        currency=currency,
        interval=_PERIODS.get(lookup(sub, "period_type", str) or "", None),
    )


def _card(sub: dict) -> c.CardData | None:
    last4 = lookup(sub, "cc_last4", str)
    if not last4:
        return None
    return c.CardData(last4, lookup(sub, "cc_exp_month", int), lookup(sub, "cc_exp_year", int))


_SUBSCRIPTION_EVENTS = {
    "subscription-created": (c.SUBSCRIPTION_CREATED, None),
    "subscription-stopped": (c.SUBSCRIPTION_CANCELED, "canceled"),
    "subscription-expired": (c.SUBSCRIPTION_CANCELED, "canceled"),
    "subscription-paused": (c.SUBSCRIPTION_PAUSED, "paused"),
    "subscription-resumed": (c.SUBSCRIPTION_RESUMED, "active"),
}


def _subscription_event(data: dict, base: dict, currency: str) -> Change:
    event, status = _SUBSCRIPTION_EVENTS[base["event_type"]]
    subscription = _subscription(data, currency, status)
    started, paid_through = _time(data, "created_at"), _time(data, "expires_at")
    if paid_through is not None:  # as a sync writes it, from the latest payment's
        subscription.current_period_end = paid_through
    elif event == c.SUBSCRIPTION_CREATED and started and subscription.interval in ("month", "year"):
        # the first period ends one interval after sign-up; payments then carry `expires_at`
        subscription.current_period_end = add_interval(started, subscription.interval)
    if event == c.SUBSCRIPTION_CANCELED:
        subscription.cancel_reason = base["event_type"].removeprefix("subscription-")
    return Change(
        **base,
        event=event,
        member=_member(_object(data, "member", required=True)),
        subscription=subscription,
        card=_card(data),
    )


_FAILED = ("transaction-failed", "recurring-transaction-failed")


def _transaction_event(data: dict, base: dict, currency: str) -> Change:
    subscription = lookup(data, "subscription")
    if not isinstance(subscription, dict):
        return c.ignored(base, "a one-off purchase: no subscription to look after")
    failed = base["event_type"] in _FAILED
    # the transaction's own membership is written out where its subscription's may be an id
    bought = _object(data, "membership")
    sub = _subscription(subscription, currency, None if failed else "active", bought)
    if not failed:
        sub.current_period_end = _time(data, "expires_at")
    return Change(
        **base,
        event=c.PAYMENT_FAILED if failed else c.PAYMENT_SUCCEEDED,
        member=_member(_object(data, "member", required=True)),
        subscription=sub,
        invoice=c.InvoiceData(
            external_id=f"mepr-txn-{lookup(data, 'id', int, required=True)}",
            amount_minor=c.amount(lookup(data, "total"), "total", currency),
            currency=currency,
            status="open" if failed else "paid",
            paid_at=None if failed else _time(data, "created_at"),
            # a MemberPress transaction is one charge: told again (a retry, a sync), it is
            # still one attempt
            attempt_count=1 if failed else None,
        ),
        card=_card(subscription),
        details={"gateway": lookup(data, "gateway", str), "trans_num": lookup(data, "trans_num")},
    )


def _member_event(data: dict, base: dict, currency: str) -> Change:
    return Change(**base, event=c.MEMBER_UPDATED, member=_member(data))


_READERS = {
    **dict.fromkeys(_SUBSCRIPTION_EVENTS, _subscription_event),
    **dict.fromkeys(
        (
            *_FAILED,
            "transaction-completed",
            "recurring-transaction-completed",
            "renewal-transaction-completed",
        ),
        _transaction_event,
    ),
    "member-account-updated": _member_event,
}
EVENT_TYPES = tuple(_READERS)


def _sign(body: bytes, settings: Settings) -> SignedRequest:
    key = required_secret(settings, "memberpress_webhook_key")
    return SignedRequest(body, {"Content-Type": "application/json", KEY_HEADER: key})


PROVIDER = Provider(
    name=NAME,
    setting="memberpress_webhook_key",
    authenticate=lambda received, settings: authenticate(
        received, settings.secret("memberpress_webhook_key")
    ),
    translate=lambda received, settings: translate(received, settings.currency),
    sign=_sign,
    summary="MemberPress Developer Tools webhooks",
    openapi={
        "parameters": [
            header("MemberPress-Webhook-Key", "The key from MemberPress's Developer page.")
        ],
        "requestBody": json_body(
            {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": list(EVENT_TYPES)},
                    "type": {"type": "string"},
                    "data": OBJECT,
                },
            }
        ),
    },
)
