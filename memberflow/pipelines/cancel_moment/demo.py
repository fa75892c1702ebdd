"""What `memberflow demo` simulates around the cancel page: a few members a day open their
"change or cancel" link and go through the real page over HTTP (some give a reason, some accept
the pause they are offered, the rest cancel); then, as the provider's webhook would, the
decisions the flow carried out are confirmed on their subscriptions. At the end, the page's
numbers."""

import random
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, false, select, update

from memberflow.core.links import link_secret, member_link
from memberflow.core.models import Member
from memberflow.core.schedule import add_interval
from memberflow.core.settings import Settings
from memberflow.pipelines.cancel_moment.alternatives import FEEDBACK_FOR_STRIPE
from memberflow.pipelines.cancel_moment.records import subscription, visit
from memberflow.pipelines.cancel_moment.report import visits
from memberflow.pipelines.cancel_moment.results import table
from memberflow.pipelines.cancel_moment.web import LINK_PURPOSE
from memberflow.plugin import HTTP_TIMEOUT, http_session

member = Member.__table__
# the demo business's one alternative (when the owner configured none)
ALTERNATIVES = '{"*": {"unused": {"kind": "pause", "months": 1}}}'
REASONS = ["unused", "unused", "too_expensive", "other", ""]


def members_use_the_page(
    engine: Engine, settings: Settings, base_url: str, as_of: datetime
) -> dict:
    """Up to two members a day go through the page; returns what they did."""
    rng = random.Random(as_of.date().toordinal() * 7)
    with engine.begin() as conn:
        secret = link_secret(conn, settings)
        staying = conn.execute(
            select(subscription.c.external_id, member.c.external_id.label("member"))
            .join(member, member.c.id == subscription.c.member_id)
            .where(
                subscription.c.status == "active",
                subscription.c.cancel_at_period_end == false(),
                subscription.c.pause_resumes_at.is_(None),
            )
            .order_by(subscription.c.id)
        ).all()
    session, done = http_session(), {"cancel page visits": 0, "paused": 0, "canceled there": 0}
    for row in rng.sample(staying, k=min(len(staying), rng.choice([0, 1, 2]))):
        url = member_link(secret, settings, row.member, LINK_PURPOSE, as_of, {"s": row.external_id})
        path = f"{base_url}/{url.split('/', 3)[3]}"
        start = session.get(path, timeout=HTTP_TIMEOUT)
        done["cancel page visits"] += 1
        form = {"form_token": _token(start.text), "reason": rng.choice(REASONS)}
        confirm = session.post(path, data=form, timeout=HTTP_TIMEOUT)
        offered = 'value="accept"' in confirm.text
        choice = "accept" if offered and rng.random() < 0.5 else "cancel"
        decided = session.post(
            f"{path}/decide",
            data={"form_token": _token(confirm.text), "choice": choice},
            timeout=HTTP_TIMEOUT,
        )
        if decided.ok:
            done["paused" if choice == "accept" else "canceled there"] += 1
    return done


def provider_confirms(engine: Engine, as_of: datetime) -> None:
    """What the provider's webhook would tell memberflow of each decision carried out today:
    a cancellation at the period's end (with the reason), or the pause until its end."""
    with engine.begin() as conn:
        carried = conn.execute(
            select(
                visit.c.subscription_id,
                visit.c.decision,
                visit.c.reason,
                visit.c.comment,
                subscription.c.current_period_end,
            )
            .join(subscription, subscription.c.id == visit.c.subscription_id)
            .where(visit.c.carried_out_at >= datetime.now(UTC) - timedelta(hours=1))
        ).all()
        for row in carried:
            if row.decision == "cancel":
                values = {
                    "cancel_at_period_end": True,
                    "canceled_at": as_of,
                    "cancel_reason": "cancellation_requested",
                    "cancel_feedback": FEEDBACK_FOR_STRIPE.get(row.reason or ""),
                    "cancel_comment": row.comment,
                }
            elif row.decision == "pause":
                values = {"pause_resumes_at": add_interval(row.current_period_end, "month")}
            else:
                continue
            values["provider_updated_at"] = as_of
            conn.execute(
                update(subscription).where(subscription.c.id == row.subscription_id).values(values)
            )


def demo_summary(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        found = visits(
            conn, datetime(1970, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1), None
        )
    return table(found, datetime.now(UTC))


def _token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    return found[1] if found else ""
