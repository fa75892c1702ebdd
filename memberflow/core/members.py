"""What every pipeline may ask of a member or a subscription, whichever pipeline it is."""

from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Connection, select, update

from memberflow.core.models import Member

member = Member.__table__

# the cancel reason of a subscription ended by failed payments (dunning's final action, or a
# provider's own payment-failure reason): involuntary churn, owed no "sorry to see you go"
INVOLUNTARY = "payment_failed"


def email_problem(address: str) -> str | None:
    """Why `address` cannot receive email, by its syntax alone (nothing is looked up), or None."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return f"{address!r} is not an email address: {error}"
    return None


def member_recipient(row: Any) -> tuple[str, str]:
    """(email, display name) of the member a row is about."""
    return row.email, f"{row.first_name or ''} {row.last_name or ''}".strip()


def is_involuntary(cancel_reason: str | None) -> bool:
    """Whether a cancellation was the member's choice (False) or failed payments' (True)."""
    return cancel_reason == INVOLUNTARY


def find_member(conn: Connection, external_id: str):
    """A member's row (id, external id, email, locale, unsubscribed_at, erased_at), or None."""
    query = select(
        member.c.id,
        member.c.external_id,
        member.c.email,
        member.c.locale,
        member.c.unsubscribed_at,
        member.c.erased_at,
    ).where(member.c.external_id == external_id)
    return conn.execute(query).one_or_none()


def unsubscribe(conn: Connection, external_id: str, now: datetime) -> bool:
    """Stops every marketing message to the member from now on; False if they already had."""
    result = conn.execute(
        update(member)
        .where(member.c.external_id == external_id, member.c.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now, marketing_consent=False)
    )
    return result.rowcount > 0
