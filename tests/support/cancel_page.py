"""A member with a subscription and their signed "manage or cancel" link, for the cancel page's
tests."""

import re
from datetime import UTC, datetime, timedelta

from memberflow.core.links import link_secret, member_link
from tests.support.clock import at
from tests.support.factories import add_subscription

RENEWS = at("2026-12-20 00:00")


def manage_link(engine, settings, member="ada", sub="s1", locale="en", product="gold", **more):
    """The member's link path (`/manage/<token>`) for a new subscription of theirs."""
    add_subscription(
        engine,
        sub,
        current_period_end=RENEWS,
        member=member,
        locale=locale,
        product=product,
        **more,
    )
    return link_path(engine, settings, member, sub)


def link_path(engine, settings, member: str, sub: str, now: datetime | None = None) -> str:
    with engine.begin() as conn:
        secret = link_secret(conn, settings)
    url = member_link(secret, settings, member, "manage", now or datetime.now(UTC), {"s": sub})
    return "/" + url.split("/", 3)[3]


def expired_link(engine, settings, member: str, sub: str) -> str:
    long_ago = datetime.now(UTC) - timedelta(days=settings.link_lifetime_days + 1)
    return link_path(engine, settings, member, sub, now=long_ago)


def form_token(page) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', page.text)[1]
