"""Signs a stored payload the way its provider would and sends it to a running ingress: for
trying a provider's setup (`memberflow ingress replay`), and for tests and benchmarks."""

import json
from urllib.parse import urlencode

import stripe

from memberflow.core import signing
from memberflow.core.settings import Settings
from memberflow.ingress import membermouse, memberpress


class NotConfigured(ValueError):
    pass


def _secret(settings: Settings, name: str) -> str:
    value = settings.secret(name)
    if value is None:
        raise NotConfigured(f"set MEMBERFLOW_{name.upper()} to sign as the ingress expects")
    return value


def signed_request(provider: str, body: bytes, settings: Settings) -> tuple[str, bytes, dict]:
    """(path with query, body, headers) as `provider` would send `body` now."""
    path = f"/webhooks/{provider}"
    if provider == "stripe":
        _secret(settings, "stripe_webhook_secret")
        secret = settings.stripe_webhook_secrets()[-1]  # the newest, while rolling
        header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
        return path, body, {"Content-Type": "application/json", "Stripe-Signature": header}
    if provider == "memberpress":
        key = _secret(settings, "memberpress_webhook_key")
        return path, body, {"Content-Type": "application/json", memberpress.KEY_HEADER: key}
    if provider == "membermouse":
        token = _secret(settings, "membermouse_token")
        params = json.loads(body) if body.lstrip().startswith(b"{") else None
        form = urlencode(params).encode() if params is not None else body
        query = urlencode({membermouse.TOKEN_PARAMETER: token})
        return f"{path}?{query}", form, {"Content-Type": "application/x-www-form-urlencoded"}
    if provider == "memberflow":
        headers = signing.sign(_secret(settings, "webhook_secret"), body)
        return path, body, {"Content-Type": "application/json", **headers}
    raise NotConfigured(
        f"unknown provider {provider!r}: stripe, memberpress, membermouse, memberflow"
    )
