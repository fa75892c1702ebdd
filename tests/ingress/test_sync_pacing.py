"""Reading a provider's API under its rate limit: the pace (pure, on a fake clock), and the
Stripe client waiting out 429s against a small server in Stripe's wire format (ours:
localstripe has no rate limit to hit)."""

import time

import pytest
import stripe

from memberflow.sync import stripe as stripe_sync
from memberflow.sync.pacing import Pace
from tests.support.clock import FakeClock
from tests.support.json_http import JsonHandler, LoopbackServer


def test_requests_take_turns_at_the_rate():
    clock = FakeClock()
    pace = Pace(4, clock=clock, sleep=clock.sleep)
    for _ in range(9):
        pace.wait_turn()
    assert clock.now == pytest.approx(102.0)  # 9 requests at 4 a second: the 9th at +2 s
    clock.now += 10  # idle time is not saved up into a burst
    pace.wait_turn()
    pace.wait_turn()
    assert clock.slept[-1] == pytest.approx(0.25)


def test_a_429_is_waited_out_as_asked_and_then_given_up():
    clock = FakeClock()
    pace = Pace(100, patience=10, clock=clock, sleep=clock.sleep)
    assert pace.wait_after_429("3", waited=0, tries=0) == 3
    assert pace.wait_after_429(None, waited=3, tries=2) == 4  # no Retry-After: 1, 2, 4 ... s
    pace.wait_turn()
    assert len(clock.slept) == 2  # the pause was the next request's wait
    assert pace.wait_after_429("5", waited=7, tries=3) is None  # past its patience: stop
    assert pace.waited_for_429 == 7


def test_a_stripe_sync_keeps_under_the_limit_of_its_keys_mode():
    assert stripe_sync.requests_per_second("sk_live_x") == 80  # of 100 a second
    assert stripe_sync.requests_per_second("rk_test_x") == 20  # of 25


class Throttling(LoopbackServer):
    """`GET /v1/customers` as Stripe answers it, after `refusals` answers of 429 with
    `Retry-After` (Stripe's rate-limit error object)."""

    def __init__(self, refusals: int, retry_after: str = "1"):
        self.refusals, self.asked_at = refusals, []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                fake.asked_at.append(time.monotonic())
                if len(fake.asked_at) <= fake.refusals:
                    body = {
                        "error": {
                            "code": "rate_limit",
                            "message": "Too many requests hit the API too quickly.",
                            "type": "invalid_request_error",
                        }
                    }
                    self.answer(429, body, {"Retry-After": retry_after})
                    return
                customer = {"id": "cus_Q1", "object": "customer", "email": "a@example.com"}
                page = {
                    "object": "list",
                    "data": [customer],
                    "has_more": False,
                    "url": "/v1/customers",
                }
                self.answer(200, page, {})

        super().__init__(Handler)


def test_the_stripe_client_waits_out_429s_as_stripe_asks():
    with Throttling(refusals=2, retry_after="1") as server:
        client = stripe_sync.client("sk_test_x", server.url, per_second=1000)
        [customer] = client.v1.customers.list().data
    assert customer.id == "cus_Q1"
    gaps = [b - a for a, b in zip(server.asked_at, server.asked_at[1:], strict=False)]
    assert len(gaps) == 2 and min(gaps) >= 0.95  # each Retry-After honoured


def test_a_429_storm_stops_the_sync_with_what_to_do(engine):
    with Throttling(refusals=1000, retry_after="1") as server:
        pace = Pace(1000, patience=2.5)
        client = stripe.StripeClient(
            "sk_test_x",
            base_addresses={"api": server.url},
            http_client=stripe_sync.PacedRequests(pace),
        )
        with pytest.raises(stripe_sync.SyncStopped, match="kept answering 429.*resumes"):
            stripe_sync.sync(engine, client, canceled_days=180, dry_run=False)
    assert len(server.asked_at) == 3  # asked, waited 1 s, asked, waited 1 s, asked, gave up
