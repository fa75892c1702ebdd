"""A realistic touchpoint with its member, subscription and product: each pipeline's sample
rows (template lint, previews, tests) start from it and override what is theirs."""

from datetime import UTC, datetime, timedelta
from typing import Any

from memberflow.messaging.protocols import TouchpointRow

SAMPLE_ANCHOR = datetime(2026, 12, 1, 9, tzinfo=UTC)


def sample_touchpoint(**overrides: Any) -> TouchpointRow:
    row = {
        "touchpoint_id": 1,
        "key": "sample:step:sub_1001:2026-12-01:email",
        "step": "step",
        "anchor_at": SAMPLE_ANCHOR,
        "due_at": SAMPLE_ANCHOR,
        "attempts": 0,
        "context": {},
        "sub_id": 1,
        "sub_external_id": "sub_1001",
        "status": "active",
        "interval": "month",
        "current_period_end": SAMPLE_ANCHOR + timedelta(days=30),
        "trial_end": None,
        "card_exp_month": 11,
        "card_exp_year": 2026,
        "card_valid_until": None,
        "amount_minor": 1999,
        "currency": "USD",
        "card_last4": "4242",
        "member_external_id": "mem_1001",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "locale": None,  # the settings' default locale: a preview in French is French throughout
        "time_zone": "Europe/London",
        "billing_address": "12 St James's Square, London",
        "shipping_address": "12 St James's Square, London",
        "product_external_id": "monthly",
        "product_name": "Monthly Club",
        "value_amplifier": None,
    }
    return TouchpointRow(**{**row, **overrides})
