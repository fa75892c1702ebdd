"""`memberflow ingress replay --now`: a stored sample re-dated to today, as the docs use it."""

import json

from memberflow.ingress.replay import redated
from tests.support.clock import at
from tests.support.webhooks import DATA

NOW = at("2027-03-01 12:00")


def test_a_stripe_sample_moves_every_moment_by_the_same_amount_and_gets_a_new_id():
    original = json.loads((DATA / "stripe" / "invoice.payment_failed.json").read_bytes())
    moved = json.loads(redated((DATA / "stripe" / "invoice.payment_failed.json").read_bytes(), NOW))
    shift = int(NOW.timestamp()) - original["created"]
    assert moved["created"] == int(NOW.timestamp())
    invoice, before = moved["data"]["object"], original["data"]["object"]
    assert invoice["next_payment_attempt"] == before["next_payment_attempt"] + shift
    assert invoice["lines"]["data"][0]["period"]["end"] == (
        before["lines"]["data"][0]["period"]["end"] + shift
    )
    assert invoice["amount_due"] == before["amount_due"]  # amounts are not moments
    assert moved["id"] != original["id"] and moved["id"].startswith(original["id"])


def test_memberflows_own_format_moves_its_iso_moments():
    moved = json.loads(redated((DATA / "memberflow" / "payment.failed.json").read_bytes(), NOW))
    assert moved["occurred_at"] == "2027-03-01T12:00:00Z"
    assert moved["subscription"]["current_period_end"] == "2027-03-31T12:00:00Z"  # 30 days on


def test_a_payload_without_a_time_of_its_own_is_sent_as_it_is():
    body = (DATA / "memberpress" / "transaction-failed.json").read_bytes()
    assert redated(body, NOW) == body
