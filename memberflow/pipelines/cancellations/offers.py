"""Offer codes made per member: a win-back whose offer is a coupon gets its member's own code
from the gateway, well before the message is due."""

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from sqlalchemy import Engine, select

from memberflow.core.charges import OfferCodeRequest
from memberflow.core.models import TouchpointStatus as Status
from memberflow.pipelines.cancellations.records import member, subscription, touchpoint
from memberflow.pipelines.cancellations.steps import PIPELINE
from memberflow.plugin import amend_context

log = logging.getLogger(__name__)
IssueCode = Callable[[OfferCodeRequest], str]  # a gateway making one member's offer code


def issue_offer_codes(engine: Engine, *, issue: IssueCode, limit: int = 500) -> tuple[int, int]:
    """Gives every planned message whose offer is a coupon its member's own code, recorded in
    the touchpoint's context with the rest of the offer. Made well before the message is due
    (when the cancellation is recorded), so a gateway outage has days to pass; the touchpoint's
    key is the idempotency key, so a retry gets the same code. Returns (issued, failed)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(touchpoint.c.id, touchpoint.c.key, touchpoint.c.context, member.c.external_id)
            .join(subscription, subscription.c.id == touchpoint.c.subscription_id)
            .join(member, member.c.id == subscription.c.member_id)
            .where(
                touchpoint.c.pipeline == PIPELINE,
                touchpoint.c.status.in_((Status.pending, Status.failed)),
                touchpoint.c.context.contains('"coupon"'),
            )
            .order_by(touchpoint.c.id)
            .limit(limit)
        ).all()
    issued = failed = 0
    for row in rows:
        context = json.loads(row.context)
        offer = context["offer"]
        if offer.get("code"):
            continue
        expires = datetime.combine(
            date.fromisoformat(offer["expires_on"]), time(23, 59), tzinfo=UTC
        )
        request = OfferCodeRequest(row.key, row.external_id, offer["coupon"], expires)
        try:
            code = issue(request)
        except Exception as error:  # a later run tries again; if none can before it is due,
            # the message goes without the offer rather than not at all
            log.warning("no offer code for %s yet (the next run tries again): %s", row.key, error)
            failed += 1
            continue
        context["offer"] = {**offer, "code": code}
        with engine.begin() as conn:
            amend_context(conn, row.id, context)
        issued += 1
    return issued, failed
