"""Signs a stored payload the way its provider would and sends it to a running ingress: for
trying a provider's setup (`memberflow ingress replay`), and for tests and benchmarks."""

from urllib.parse import urlencode

from memberflow.core.settings import Settings
from memberflow.ingress.provider import NotConfigured, discover


def signed_request(provider: str, body: bytes, settings: Settings) -> tuple[str, bytes, dict]:
    """(path with query, body, headers) as `provider` would send `body` now."""
    providers = discover()
    if provider not in providers:
        raise NotConfigured(f"unknown provider {provider!r}: {', '.join(sorted(providers))}")
    found = providers[provider]
    signed = found.sign(body, settings)
    path = f"{found.path}?{urlencode(signed.query)}" if signed.query else found.path
    return path, signed.body, signed.headers
