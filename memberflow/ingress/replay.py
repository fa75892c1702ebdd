"""Signs a stored payload the way its provider would and sends it to a running ingress: for
trying a provider's setup (`memberflow ingress replay`), and for tests and benchmarks."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from memberflow.core.settings import Settings
from memberflow.ingress.provider import NotConfigured
from memberflow.ingress.providers import discover_providers


def signed_request(provider: str, body: bytes, settings: Settings) -> tuple[str, bytes, dict]:
    """(path with query, body, headers) as `provider` would send `body` now."""
    providers = discover_providers()
    if provider not in providers:
        raise NotConfigured(f"unknown provider {provider!r}: {', '.join(sorted(providers))}")
    found = providers[provider]
    signed = found.sign(body, settings)
    path = f"{found.path}?{urlencode(signed.query)}" if signed.query else found.path
    return path, signed.body, signed.headers


# Stripe's moments are Unix seconds under these names; memberflow's own format writes ISO text.
_STRIPE_MOMENTS = {
    "created", "start", "end", "period_start", "period_end", "current_period_start",
    "current_period_end", "trial_start", "trial_end", "canceled_at", "cancel_at", "ended_at",
    "start_date", "billing_cycle_anchor", "next_payment_attempt", "due_date", "finalized_at",
    "paid_at", "voided_at", "marked_uncollectible_at",
}  # fmt: skip


def redated(body: bytes, now: datetime) -> bytes:
    """A stored payload as if it happened at `now`: every moment in it moved by the same
    amount (so a due date stays a month after the invoice), and a new event id (a provider's
    retry of the old one would change nothing). Payloads without a time of their own
    (MemberPress, MemberMouse: their time is their arrival) come back as they were."""
    payload = json.loads(body)
    if isinstance(payload.get("created"), int):  # Stripe
        shift = int(now.timestamp()) - payload["created"]
        payload = _shift(
            payload, lambda key, value: value + shift if _stripe_moment(key, value) else value
        )
    elif isinstance(payload.get("occurred_at"), str):  # memberflow's own format
        then = datetime.fromisoformat(payload["occurred_at"].replace("Z", "+00:00"))
        delta = now - then
        payload = _shift(
            payload,
            lambda key, value: _later(value, delta) if key.endswith(("_at", "_end")) else value,
        )
    else:
        return body
    payload["id"] = f"{payload['id']}-{int(now.timestamp())}"
    return json.dumps(payload).encode()


def _stripe_moment(key: str, value) -> bool:
    return key in _STRIPE_MOMENTS and isinstance(value, int) and not isinstance(value, bool)


def _later(value, delta: timedelta):
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return (moment + delta).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shift(node, change):
    if isinstance(node, dict):
        return {key: change(key, _shift(value, change)) for key, value in node.items()}
    if isinstance(node, list):
        return [_shift(value, change) for value in node]
    return node
