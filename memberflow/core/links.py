"""Signed links in emails (unsubscribe, and later surveys): bound to one member and one purpose,
expiring, and useless once changed by a single character. No login is needed to use one, so the
token is the whole proof."""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select

from memberflow.core.db import insert_new
from memberflow.core.members import find_member
from memberflow.core.models import SigningKey
from memberflow.core.settings import Settings

LINK_KEY = "links"
_table = SigningKey.__table__


class BadLink(ValueError):
    """A link that was changed, belongs to something else, or has expired."""

    def __init__(self, why: str, expired: bool = False):
        super().__init__(why)
        self.expired = expired


@dataclass(frozen=True)
class Link:
    member_external_id: str
    purpose: str
    expires_at: datetime
    data: dict = field(default_factory=dict)  # what else it is bound to (a survey, an answer)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:20])


def make_token(
    secret: str,
    member_external_id: str,
    purpose: str,
    expires_at: datetime,
    data: dict | None = None,
) -> str:
    bound = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode()) if data else ""
    member = _b64(member_external_id.encode())
    payload = f"{member}.{purpose}.{int(expires_at.timestamp())}.{bound}"
    return f"{payload}.{_mac(secret, payload)}"


def read_token(secret: str, token: str, purpose: str, now: datetime) -> Link:
    """The link a token stands for; raises BadLink unless it is intact, for `purpose`, unexpired."""
    try:
        member_part, token_purpose, expires, bound, mac = token.split(".")
        payload = f"{member_part}.{token_purpose}.{expires}.{bound}"
        intact = hmac.compare_digest(mac, _mac(secret, payload))
        member = _unb64(member_part).decode() if intact else ""
        expires_at = datetime.fromtimestamp(int(expires), UTC) if intact else now
        data = json.loads(_unb64(bound)) if intact and bound else {}
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):
        raise BadLink("this link is damaged") from None
    if not intact:
        raise BadLink("this link is damaged")
    if token_purpose != purpose:
        raise BadLink(f"this link is not a {purpose} link")
    if expires_at < now:
        raise BadLink("this link has expired", expired=True)
    return Link(member, token_purpose, expires_at, data)


def link_secret(conn: Connection, settings: Settings) -> str:
    """The configured secret, else the one memberflow made for this database (made on first use;
    a race between two processes keeps the first one written)."""
    configured = settings.secret("link_secret")
    if configured:
        return configured
    query = select(_table.c.value).where(_table.c.name == LINK_KEY)
    found = conn.execute(query).scalar_one_or_none()
    if found is None:
        new = {
            "name": LINK_KEY,
            "value": secrets.token_urlsafe(32),
            "created_at": datetime.now(UTC),
        }
        insert_new(conn, _table, [new], unique="name")
        found = conn.execute(query).scalar_one()
    return found


def member_link(
    secret: str,
    settings: Settings,
    member_external_id: str,
    purpose: str,
    now: datetime,
    data: dict | None = None,
) -> str:
    """The public URL of a signed link, e.g. `<public_url>/unsubscribe/<token>`."""
    expires_at = now + timedelta(days=settings.link_lifetime_days)
    token = make_token(secret, member_external_id, purpose, expires_at, data)
    return f"{settings.public_url.rstrip('/')}/{purpose}/{token}"


def open_link(engine: Engine, settings: Settings, token: str, purpose: str):
    """(the link, its member or None if gone, the secret) for a token a member followed;
    raises BadLink unless the token is intact, for `purpose` and unexpired."""
    with engine.begin() as conn:  # begin: the first link ever makes the secret
        secret = link_secret(conn, settings)
        link = read_token(secret, token, purpose, datetime.now(UTC))
        return link, find_member(conn, link.member_external_id), secret
