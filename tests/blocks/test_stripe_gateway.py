"""StripeGateway through Stripe's official library against a local server in Stripe's wire
format: success, card errors with decline codes, 429s, API errors, and an idempotency key on
every charge."""

from datetime import timedelta

import pytest
import stripe

import blocks.gateways.stripe_gateway as stripe_gateway
from blocks.gateways.stripe_gateway import StripeGateway
from memberflow.core.charges import ChargeRequest, ChargeStatus
from tests.support.clock import at
from tests.support.fake_stripe import FakeStripe, card_error


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """Records our rate-limit waits and skips the library's own backoff."""
    waits = []
    monkeypatch.setattr(stripe_gateway, "_sleep", waits.append)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "_sleep_time_seconds", lambda *a: 0)
    return waits


def gateway(fake, **fields) -> StripeGateway:
    return StripeGateway(api_key="rk_test_51abcdefwxyz", api_base=fake.url, **fields)


def request(invoice="in_1QfR2k2eZvKYlo2C", key="dunning:in_1QfR2k2eZvKYlo2C:charge:1"):
    failed = at("2026-12-01 09:30")
    return ChargeRequest(
        idempotency_key=key,
        invoice_external_id=invoice,
        subscription_external_id="sub_1",
        member_external_id="cus_1",
        amount_minor=1999,
        currency="USD",
        card_last4="4242",
        failed_at=failed,
        attempted_at=failed + timedelta(days=1),
    )


def test_a_successful_retry_pays_the_invoice_with_the_idempotency_key(fake):
    result = gateway(fake).retry_charge(request())
    assert result.status is ChargeStatus.succeeded and result.paid
    (call,) = fake.posts()
    assert call.path == "/v1/invoices/in_1QfR2k2eZvKYlo2C/pay"
    assert call.headers["Idempotency-Key"] == "dunning:in_1QfR2k2eZvKYlo2C:charge:1"
    assert call.headers["Authorization"] == "Bearer rk_test_51abcdefwxyz"


@pytest.mark.parametrize(
    ("decline", "advice"),
    [("insufficient_funds", "try_again_later"), ("expired_card", None), ("stolen_card", None)],
)
def test_a_card_error_comes_back_as_a_decline_with_its_codes(fake, decline, advice):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = [card_error(decline)]
    result = gateway(fake).retry_charge(request())
    assert (result.status, result.decline_code, result.advice_code) == (
        ChargeStatus.declined,
        decline,
        advice,
    )
    assert result.message == "Your card was declined."


def test_a_payment_needing_the_members_bank_is_authentication_required(fake):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = [
        card_error(None, code="invoice_payment_intent_requires_action")
    ]
    result = gateway(fake).retry_charge(request())
    assert result.decline_code == "authentication_required"


def test_rate_limits_are_retried_with_backoff_and_the_same_key(fake, no_sleeping):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = ["rate_limit", "rate_limit", "paid"]
    result = gateway(fake).retry_charge(request())
    assert result.status is ChargeStatus.succeeded
    keys = {call.headers["Idempotency-Key"] for call in fake.posts()}
    assert len(fake.posts()) == 3 and keys == {"dunning:in_1QfR2k2eZvKYlo2C:charge:1"}
    assert len(no_sleeping) == 2 and 1 <= no_sleeping[0] <= 2 and no_sleeping[1] >= 2


def test_a_rate_limit_that_outlasts_the_retries_is_unavailable_not_a_decline(fake, no_sleeping):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = ["rate_limit"] * 10
    result = gateway(fake).retry_charge(request())
    assert result.status is ChargeStatus.unavailable
    assert len(fake.posts()) == stripe_gateway.RATE_LIMIT_ATTEMPTS


def test_an_api_error_is_retried_by_the_library_then_reported_as_a_gateway_error(fake):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = ["api_error"]
    result = gateway(fake, max_network_retries=2).retry_charge(request())
    assert result.status is ChargeStatus.gateway_error
    assert "HTTP 500 api_error: An unknown error occurred" in result.message
    # the library's retries replay the same key, and Stripe replays the saved 500
    assert len(fake.posts()) == 3
    assert {c.headers["Idempotency-Key"] for c in fake.posts()} == {request().idempotency_key}


def test_a_refused_api_key_is_a_gateway_error_that_names_the_fix_not_the_key(fake):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = ["bad_key"]
    result = gateway(fake).retry_charge(request())
    assert result.status is ChargeStatus.gateway_error
    assert "check the gateway block's API key" in result.message
    assert "rk_test" not in result.message


def test_an_invoice_paid_meanwhile_is_already_paid(fake):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = ["already_paid"]
    fake.status["in_1QfR2k2eZvKYlo2C"] = "paid"
    result = gateway(fake).retry_charge(request())
    assert result.status is ChargeStatus.already_paid and result.paid
    assert [c.method for c in fake.calls] == ["POST", "GET"]


def test_an_unreachable_stripe_is_a_gateway_error(fake):
    dead = StripeGateway(api_key="rk_test_1", api_base="http://127.0.0.1:9", max_network_retries=0)
    result = dead.retry_charge(request())
    assert result.status is ChargeStatus.gateway_error and "APIConnectionError" in result.message


def test_a_replayed_charge_gets_stripes_saved_answer_and_charges_once(fake):
    fake.scripts["in_1QfR2k2eZvKYlo2C"] = [card_error("insufficient_funds"), "paid"]
    first = gateway(fake).retry_charge(request())
    replay = gateway(fake).retry_charge(request())  # a crash made us call again: same key
    assert first == replay and first.status is ChargeStatus.declined
    fresh = gateway(fake).retry_charge(request(key="dunning:in_1QfR2k2eZvKYlo2C:charge:2"))
    assert fresh.status is ChargeStatus.succeeded


def offer_request(key="cancellations:winback_14d:sub_1:2026-12-01:email", coupon="winback_month"):
    from memberflow.core.charges import OfferCodeRequest

    return OfferCodeRequest(key, "cus_Q1a2B3c4D5e6F7", coupon, at("2027-02-02 23:59"))


def test_an_offer_code_is_a_single_use_promotion_code_for_that_customer_only(fake):
    code = gateway(fake).create_offer_code(offer_request())
    [call] = fake.posts()
    assert call.path == "/v1/promotion_codes"
    assert call.headers["Idempotency-Key"] == "cancellations:winback_14d:sub_1:2026-12-01:email"
    assert call.form["promotion[type]"] == ["coupon"]
    assert call.form["promotion[coupon]"] == ["winback_month"]
    assert call.form["customer"] == ["cus_Q1a2B3c4D5e6F7"]
    assert call.form["max_redemptions"] == ["1"]
    assert call.form["expires_at"] == [str(int(at("2027-02-02 23:59").timestamp()))]
    assert code == "WINBACK_MONTH0001"
    assert gateway(fake).create_offer_code(offer_request()) == code  # a replay: the same code


def test_an_unknown_coupon_raises_with_stripes_reason(fake):
    with pytest.raises(stripe.InvalidRequestError, match="No such coupon"):
        gateway(fake).create_offer_code(offer_request(coupon="typo"))


def final_request(action: str):
    from memberflow.core.charges import FinalActionRequest

    return FinalActionRequest(
        f"dunning:in_1QfR2k2eZvKYlo2C:final:{action}",
        action,
        "sub_1QfR2k2eZvKYlo2C",
        "in_1QfR2k2eZvKYlo2C",
    )


def test_the_final_action_cancel_deletes_the_subscription_at_stripe(fake):
    said = gateway(fake).apply_final_action(final_request("cancel"))
    [call] = fake.calls
    assert (call.method, call.path) == ("DELETE", "/v1/subscriptions/sub_1QfR2k2eZvKYlo2C")
    assert call.headers["Idempotency-Key"] == "dunning:in_1QfR2k2eZvKYlo2C:final:cancel"
    assert said == "Stripe subscription sub_1QfR2k2eZvKYlo2C canceled"


def test_the_final_action_pause_voids_collection_and_unpaid_marks_the_invoice(fake):
    gateway(fake).apply_final_action(final_request("pause"))
    paused = fake.posts()[0]
    assert paused.path == "/v1/subscriptions/sub_1QfR2k2eZvKYlo2C"
    assert paused.form["pause_collection[behavior]"] == ["void"]
    said = gateway(fake).apply_final_action(final_request("unpaid"))
    assert fake.posts()[1].path == "/v1/invoices/in_1QfR2k2eZvKYlo2C/mark_uncollectible"
    assert said == "Stripe invoice in_1QfR2k2eZvKYlo2C uncollectible"


def test_a_final_action_stripe_refuses_raises_with_its_reason(fake):
    from memberflow.core.charges import FinalActionRequest

    gone = FinalActionRequest("k", "cancel", "sub_gone", "in_1")
    with pytest.raises(stripe.InvalidRequestError, match="No such subscription"):
        gateway(fake).apply_final_action(gone)
