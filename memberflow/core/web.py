"""What every page memberflow serves to members shares: one template environment, and headers
that keep a signed link's token to itself (no referrer, no framing, no outside content)."""

import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from memberflow.core.locales import SUPPORTED, language_of

SECURITY_HEADERS = {
    # nothing but the page itself: inline styles, no scripts, forms post back here only
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the token in the URL must not leak to other sites
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page_environment(templates_dir: Path) -> Environment:
    """Pages live in templates/web/ and may import the shared pieces in templates/_layouts/."""
    return Environment(loader=FileSystemLoader(templates_dir), autoescape=select_autoescape())


def page_language(locale: str | None, default: str) -> str:
    """The language a member page speaks: the member's, else the business's, else English."""
    for candidate in (language_of(locale), language_of(default)):
        if candidate in SUPPORTED:
            return candidate
    return "en"


def page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


MAX_FORM_BYTES = 16_384


def form_token(secret: str, purpose: str, token: str) -> str:
    """The token a page's form carries, derived from its signed link (no cookie, no session):
    a POST without it was not made from the page the link opened."""
    return hmac.new(secret.encode(), f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()


async def read_form(request: Request) -> dict[str, str] | None:
    """A posted form's fields, the last value of each; None when it is too large."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        fields = {}
    return {name: values[-1] for name, values in fields.items()}
