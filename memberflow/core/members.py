"""What every pipeline may ask of a member or a subscription, whichever pipeline it is."""

from typing import Any

# the cancel reason of a subscription ended by failed payments (dunning's final action, or a
# provider's own payment-failure reason): involuntary churn, owed no "sorry to see you go"
INVOLUNTARY = "payment_failed"


def member_recipient(row: Any) -> tuple[str, str]:
    """(email, display name) of the member a row is about."""
    return row.email, f"{row.first_name or ''} {row.last_name or ''}".strip()


def is_involuntary(cancel_reason: str | None) -> bool:
    """Whether a cancellation was the member's choice (False) or failed payments' (True)."""
    return cancel_reason == INVOLUNTARY
