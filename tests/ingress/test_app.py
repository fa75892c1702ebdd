"""The ingress, through its HTTP interface (in-process), on each database."""

import json
import sqlite3
import time
from pathlib import Path

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from memberflow.core.models import InboxEvent, Invoice, Member, Subscription
from memberflow.core.settings import get_settings
from memberflow.ingress import inbox
from memberflow.ingress.app import create_app
from tests.support.clock import at
from tests.support.webhooks import DATA, SECRETS, sample, send


def rows(engine, model):
    with Session(engine) as session:
        return session.exec(select(model).order_by(model.id)).all()


def stripe_onboarding(client, settings):
    for name in ("customer.created", "customer.subscription.created"):
        assert (
            send(client, "stripe", sample("stripe", name), settings).json()["status"] == "applied"
        )


# -- Stripe ------------------------------------------------------------------------------------


def test_a_failed_stripe_payment_is_stored_applied_and_owes_an_event(client, configured, engine):
    stripe_onboarding(client, configured)
    response = send(client, "stripe", sample("stripe", "invoice.payment_failed"), configured)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    assert response.json()["event"] == "memberflow.payment.failed"
    [invoice] = rows(engine, Invoice)
    assert (invoice.external_id, invoice.amount_minor, invoice.currency) == (
        "in_Ada002",
        1900,
        "USD",
    )
    assert (invoice.decline_code, invoice.advice_code) == ("insufficient_funds", "try_again_later")
    assert invoice.attempt_count == 1 and invoice.status == "open"
    assert invoice.hosted_url.startswith("https://invoice.stripe.com/")
    webhook_id, event = inbox.unemitted(engine, 10)[-1]
    assert webhook_id == response.json()["webhook_id"]
    assert event["event"] == "memberflow.payment.failed"
    assert event["resource"]["prefect.resource.id"] == "memberflow.subscription.sub_Ada001"
    [sub] = rows(engine, Subscription)
    assert event["payload"]["subscription_id"] == sub.id
    assert event["payload"]["invoice_id"] == invoice.id
    assert event["payload"]["decline_code"] == "insufficient_funds"
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    assert roles["member"] == "memberflow.member.cus_Ada001"
    assert roles["invoice"] == "memberflow.invoice.in_Ada002"


def test_the_newer_invoice_shape_and_an_expanded_payment_intent(client, configured, engine):
    payload = sample("stripe", "invoice.payment_failed.basil")
    response = send(client, "stripe", payload, configured)
    # Bob is new and the invoice does not say his plan's interval: stored and reported
    assert response.json()["status"] == "unmatched"
    assert "interval" in response.json()["note"]
    [bob] = rows(engine, Member)
    assert bob.email == "bob@example.fr"
    with Session(engine) as session:
        session.add(
            Subscription(
                external_id="sub_Bob001",
                member_id=bob.id,
                product_id=_product(session).id,
                status="active",
                amount_minor=29900,
                currency="EUR",
                interval="year",
                current_period_end=at("2026-12-19 09:00"),
            )
        )
        session.commit()
    from memberflow.ingress.app import translate_stored

    [result] = inbox.reapply(engine, lambda row: translate_stored(row, configured))
    assert (result.status, result.event) == ("applied", "memberflow.payment.failed")
    [invoice] = rows(engine, Invoice)
    assert (invoice.decline_code, invoice.advice_code) == ("stolen_card", "do_not_try_again")
    assert invoice.attempt_count == 2 and invoice.currency == "EUR"


def _product(session):
    from memberflow.core.models import Product

    product = Product(external_id="prod_Platinum", name="Platinum")
    session.add(product)
    session.flush()
    return product


def test_a_duplicate_delivery_is_acknowledged_and_does_nothing(client, configured, engine):
    stripe_onboarding(client, configured)
    payload = sample("stripe", "invoice.payment_failed")
    first = send(client, "stripe", payload, configured).json()
    again = send(client, "stripe", payload, configured)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["webhook_id"] == first["webhook_id"]
    assert len(rows(engine, InboxEvent)) == 3
    assert rows(engine, Invoice)[0].attempt_count == 1
    assert len(inbox.unemitted(engine, 10)) == 3


def test_a_deletion_before_the_update_leaves_the_subscription_canceled(client, configured, engine):
    send(client, "stripe", sample("stripe", "customer.created"), configured)
    send(client, "stripe", sample("stripe", "customer.subscription.created"), configured)
    deleted = send(client, "stripe", sample("stripe", "customer.subscription.deleted"), configured)
    assert deleted.json()["event"] == "memberflow.subscription.canceled"
    late = send(client, "stripe", sample("stripe", "customer.subscription.updated"), configured)
    assert late.json()["status"] == "stale" and late.json()["event"] is None
    [sub] = rows(engine, Subscription)
    assert sub.status == "canceled"
    assert (sub.cancel_reason, sub.cancel_feedback) == ("cancellation_requested", "unused")
    assert sub.cancel_comment == "Too busy this season"
    events = [event["event"] for _, event in inbox.unemitted(engine, 10)]
    assert events[1:] == ["memberflow.subscription.created", "memberflow.subscription.canceled"]


def test_a_cancellation_at_period_end_is_a_cancellation_and_taking_it_back_a_reactivation(
    client, configured, engine
):
    stripe_onboarding(client, configured)
    scheduled = send(
        client, "stripe", sample("stripe", "customer.subscription.updated"), configured
    )
    assert scheduled.json()["event"] == "memberflow.subscription.canceled"
    [sub] = rows(engine, Subscription)
    assert (sub.status, sub.cancel_at_period_end) == ("active", True)
    assert sub.canceled_at is not None and sub.cancel_comment == "Too busy this season"
    assert sub.started_at is not None  # Stripe's start_date: the member's tenure
    taken_back = sample(
        "stripe", "customer.subscription.updated", id="evt_back", created=1795200000
    )
    taken_back["data"]["object"].update(
        cancel_at_period_end=False,
        cancel_at=None,
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
    )
    back = send(client, "stripe", taken_back, configured)
    assert back.json()["event"] == "memberflow.subscription.reactivated"
    [sub] = rows(engine, Subscription)
    assert (sub.status, sub.cancel_at_period_end, sub.canceled_at) == ("active", False, None)
    assert sub.cancel_comment is None


def test_membermouse_pending_cancellation_is_a_cancellation_at_period_end(
    client, configured, engine
):
    send(client, "membermouse", sample("membermouse", "mm_payment_received"), configured)
    pending = sample("membermouse", "mm_member_status_change")
    pending.update(status="9", status_name="Pending Cancellation")
    answer = send(client, "membermouse", pending, configured)
    assert answer.json()["event"] == "memberflow.subscription.canceled", answer.text
    [sub] = rows(engine, Subscription)
    assert (sub.status, sub.cancel_at_period_end) == ("active", True)


def test_a_payment_failure_arriving_after_the_payment_changes_nothing(client, configured, engine):
    stripe_onboarding(client, configured)
    send(client, "stripe", sample("stripe", "invoice.paid"), configured)
    late = send(client, "stripe", sample("stripe", "invoice.payment_failed"), configured)
    assert late.json()["status"] == "stale"
    [invoice] = rows(engine, Invoice)
    assert invoice.status == "paid" and invoice.paid_at is not None


def test_subscription_lifecycle_events(client, configured, engine):
    stripe_onboarding(client, configured)
    expected = {
        "customer.subscription.paused": ("memberflow.subscription.paused", "paused"),
        "customer.subscription.resumed": ("memberflow.subscription.resumed", "active"),
    }
    for name, (event, status) in expected.items():
        assert send(client, "stripe", sample("stripe", name), configured).json()["event"] == event
        assert rows(engine, Subscription)[0].status == status


def test_a_card_update_reaches_the_subscriptions(client, configured, engine):
    stripe_onboarding(client, configured)
    response = send(client, "stripe", sample("stripe", "payment_method.updated"), configured)
    assert response.json()["event"] == "memberflow.card.updated"
    [sub] = rows(engine, Subscription)
    assert (sub.card_last4, sub.card_exp_month, sub.card_exp_year) == ("4242", 9, 2029)
    assert str(sub.card_valid_until) == "2029-09-30"
    changed = send(client, "stripe", sample("stripe", "customer.updated"), configured).json()
    assert changed["event"] == "memberflow.card.updated"  # the default payment method changed
    assert rows(engine, Member)[0].email == "ada.lovelace@example.com"


def test_trial_end_and_upcoming_invoice_are_announced(client, configured, engine):
    stripe_onboarding(client, configured)
    for name, event in [
        ("customer.subscription.trial_will_end", "memberflow.subscription.trial_will_end"),
        ("invoice.upcoming", "memberflow.invoice.upcoming"),
    ]:
        assert send(client, "stripe", sample("stripe", name), configured).json()["event"] == event


def test_an_unknown_event_type_is_recorded_as_ignored(client, configured, engine):
    payload = sample("stripe", "customer.created", type="charge.dispute.created", id="evt_x")
    response = send(client, "stripe", payload, configured)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    [row] = rows(engine, InboxEvent)
    assert row.status == "ignored" and row.prefect_event is None


def test_a_subscription_for_an_unknown_customer_is_stored_and_reported(client, configured, engine):
    response = send(client, "stripe", sample("stripe", "customer.subscription.created"), configured)
    assert response.json()["status"] == "unmatched"
    assert "cus_Ada001" in response.json()["note"] and "reapply" in response.json()["note"]
    send(client, "stripe", sample("stripe", "customer.created"), configured)
    from memberflow.ingress.app import translate_stored

    [result] = inbox.reapply(engine, lambda row: translate_stored(row, configured))
    assert result.status == "applied"
    assert rows(engine, Subscription)[0].external_id == "sub_Ada001"


# -- Stripe signatures ---------------------------------------------------------------------------


def _stripe_post(client, body: bytes, header: str):
    return client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})


def test_stripe_signatures_during_a_secret_roll(client, configured, engine):
    body = json.dumps(sample("stripe", "customer.created")).encode()
    now = int(time.time())
    old = stripe.WebhookSignature._compute_signature(f"{now}.{body.decode()}", "whsec_test_old")
    stray = stripe.WebhookSignature._compute_signature(f"{now}.{body.decode()}", "whsec_other")
    # Stripe sends one v1 per active secret; any one that matches is enough
    header = f"t={now},v1={stray},v1={old}"
    assert _stripe_post(client, body, header).status_code == 200


@pytest.mark.parametrize(
    "age, accepted", [(0, True), (299, True), (301, False), (3600, False), (-290, True)]
)
def test_stripe_signature_tolerance(client, configured, age, accepted):
    body = json.dumps(sample("stripe", "customer.created")).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_test_new", timestamp=int(time.time()) - age
    )
    response = _stripe_post(client, body, header)
    assert response.status_code == (200 if accepted else 401), response.text


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=1,v1=00", "v1=abc"],
)
def test_bad_stripe_signatures_are_refused_and_store_nothing(client, configured, engine, header):
    body = json.dumps(sample("stripe", "customer.created")).encode()
    response = _stripe_post(client, body, header)
    assert response.status_code == 401
    assert response.json()["provider"] == "stripe" and response.json()["error"]
    assert rows(engine, InboxEvent) == []


def test_a_tampered_stripe_body_is_refused(client, configured, engine):
    body = json.dumps(sample("stripe", "invoice.payment_failed")).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_test_new")
    tampered = body.replace(b'"amount_due": 1900', b'"amount_due": 1')
    assert tampered != body
    assert _stripe_post(client, tampered, header).status_code == 401
    assert rows(engine, InboxEvent) == []


# -- bad input -----------------------------------------------------------------------------------


def _signed_stripe(client, body: bytes):
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_test_new")
    return _stripe_post(client, body, header)


def test_malformed_json_is_a_400(client, configured, engine):
    response = _signed_stripe(client, b'{"id": "evt_1", ')
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    assert rows(engine, InboxEvent) == []


def test_a_missing_field_is_named(client, configured, engine):
    payload = sample("stripe", "invoice.payment_failed")
    del payload["data"]["object"]["customer"]
    response = _signed_stripe(client, json.dumps(payload).encode())
    assert response.status_code == 422
    assert response.json()["field"] == "customer"
    assert rows(engine, InboxEvent) == []


def test_an_oversized_body_is_a_413(settings, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEMBERFLOW_INGRESS_MAX_BODY_BYTES", "1000")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as client:
        response = client.post("/webhooks/stripe", content=b"x" * 5000)
    assert response.status_code == 413 and "1000" in response.json()["error"]


def test_a_provider_without_a_secret_is_refused_with_503(settings):
    with TestClient(create_app(settings)) as client:
        response = client.post("/webhooks/stripe", content=b"{}")
    assert response.status_code == 503
    assert "MEMBERFLOW_STRIPE_WEBHOOK_SECRET" in response.json()["error"]


def test_card_numbers_never_reach_the_inbox(client, configured, engine):
    payload = sample("memberpress", "member-account-updated")
    payload["data"]["message"] = "my card is 4242 4242 4242 4242, please charge it"
    send(client, "memberpress", payload, configured)
    [row] = rows(engine, InboxEvent)
    assert "4242 4242 4242 4242" not in row.body and "****4242" in row.body


# -- MemberPress ---------------------------------------------------------------------------------


def test_memberpress_lifecycle(client, configured, engine):
    def post(name):
        return send(client, "memberpress", sample("memberpress", name), configured).json()

    assert post("subscription-created")["event"] == "memberflow.subscription.created"
    [sub] = rows(engine, Subscription)
    assert (sub.external_id, sub.amount_minor, sub.currency, sub.interval) == (
        "3245",
        1200,
        "USD",
        "month",
    )
    assert str(sub.current_period_end) == "2026-11-01 22:25:24+00:00"
    failed = post("recurring-transaction-failed")
    assert failed["event"] == "memberflow.payment.failed"
    assert post("recurring-transaction-completed")["event"] == "memberflow.payment.succeeded"
    assert str(rows(engine, Subscription)[0].current_period_end) == "2026-12-01 23:59:59+00:00"
    assert post("subscription-paused")["event"] == "memberflow.subscription.paused"
    assert post("subscription-resumed")["event"] == "memberflow.subscription.resumed"
    assert post("subscription-stopped")["event"] == "memberflow.subscription.canceled"
    assert rows(engine, Subscription)[0].status == "canceled"
    assert post("member-account-updated")["event"] == "memberflow.member.updated"
    assert rows(engine, Member)[0].email == "carla.diaz@example.com"


def test_memberpress_needs_its_key(client, configured, engine):
    body = json.dumps(sample("memberpress", "subscription-created")).encode()
    for headers in ({}, {"MemberPress-Webhook-Key": "wrong"}):
        response = client.post("/webhooks/memberpress", content=body, headers=headers)
        assert response.status_code == 401
    assert rows(engine, InboxEvent) == []


# -- MemberMouse ---------------------------------------------------------------------------------


def test_membermouse_decline_then_rebill(client, configured, engine):
    def post(name):
        return send(client, "membermouse", sample("membermouse", name), configured).json()

    assert post("mm_payment_received")["event"] == "memberflow.payment.succeeded"
    assert post("mm_payment_rebill_declined")["event"] == "memberflow.payment.failed"
    open_invoices = [i for i in rows(engine, Invoice) if i.status == "open"]
    assert [i.amount_minor for i in open_invoices] == [2900]
    assert post("mm_payment_rebill_declined")["status"] == "duplicate"
    assert post("mm_payment_rebill")["event"] == "memberflow.payment.succeeded"
    assert all(i.status == "paid" for i in rows(engine, Invoice))
    assert post("mm_member_status_change")["event"] == "memberflow.subscription.canceled"
    [row] = [r for r in rows(engine, InboxEvent) if r.event_type == "mm_payment_received"]
    assert "token" not in row.body and "mm-token" not in row.body


def test_membermouse_accepts_the_token_in_a_header_and_a_get(client, configured, engine):
    params = sample("membermouse", "mm_member_account_update")
    response = client.get(
        "/webhooks/membermouse", params=params, headers={"X-Memberflow-Token": "mm-token-456"}
    )
    assert response.status_code == 200 and response.json()["status"] == "applied"
    wrong = client.post("/webhooks/membermouse?token=nope", data=params)
    assert wrong.status_code == 401


# -- memberflow's own format ---------------------------------------------------------------------


def test_the_generic_format(client, configured, engine):
    response = send(client, "memberflow", sample("memberflow", "payment.failed"), configured)
    assert response.json()["event"] == "memberflow.payment.failed", response.text
    [invoice] = rows(engine, Invoice)
    assert invoice.decline_code == "insufficient_funds"
    bad = sample("memberflow", "payment.failed", type="payment.exploded", id="x2")
    response = send(client, "memberflow", bad, configured)
    assert response.status_code == 422 and response.json()["field"] == "type"


def test_the_openapi_document_describes_every_route(client):
    spec = client.get("/openapi.json").json()
    for provider in ("stripe", "memberpress", "membermouse", "memberflow"):
        operation = spec["paths"][f"/webhooks/{provider}"]["post"]
        assert set(operation["responses"]) >= {"200", "400", "401", "413", "422", "503"}
        assert operation["requestBody"]["content"]
    schema = spec["paths"]["/webhooks/memberflow"]["post"]["requestBody"]["content"]
    assert schema["application/json"]["schema"]["$ref"] == "#/components/schemas/MemberflowEvent"
    assert "MemberflowEvent" in spec["components"]["schemas"]


def test_every_sample_payload_is_accepted(client, configured):
    for path in sorted(DATA.glob("*/*.json")):
        payload = json.loads(path.read_text())
        response = send(client, path.parent.name, payload, configured)
        assert response.status_code == 200, (path.name, response.text)


def test_a_nul_character_is_refused_on_every_database(client, configured, engine):
    payload = sample("memberpress", "member-account-updated")
    payload["data"]["email"] = "carla\u0000@example.com"
    response = send(client, "memberpress", payload, configured)
    assert response.status_code == 422 and response.json()["field"] == "email"


def test_a_translator_bug_keeps_the_webhook_for_reapply(client, configured, engine, monkeypatch):
    from memberflow.ingress.app import translate_stored
    from memberflow.ingress.providers import stripe as stripe_events

    real = stripe_events.translate
    monkeypatch.setattr(stripe_events, "translate", lambda received: 1 / 0)
    response = send(client, "stripe", sample("stripe", "customer.created"), configured)
    assert response.status_code == 200 and response.json()["status"] == "failed"
    [row] = rows(engine, InboxEvent)
    assert (row.status, row.event_type) == ("failed", "(untranslated)")
    assert row.note.startswith("ZeroDivisionError")
    monkeypatch.setattr(stripe_events, "translate", real)  # the bug, fixed
    [result] = inbox.reapply(engine, lambda stored: translate_stored(stored, configured))
    assert (result.status, result.event) == ("applied", "memberflow.member.updated")


def test_a_survey_answer_from_another_tool_is_recorded_once_per_key(client, configured, engine):
    from memberflow.core.models import SurveyResponse

    answered = sample("memberflow", "survey.answered")
    response = send(client, "memberflow", answered, configured)
    assert response.status_code == 200, response.text
    assert response.json()["event"] == "memberflow.survey.answered"
    changed = {**answered, "id": "typeform-resp-0002", "occurred_at": "2026-12-03T15:00:00Z"}
    changed["answer"] = {**answered["answer"], "answer": "too_expensive", "key": "exit:eve"}
    send(client, "memberflow", changed, configured)
    send(client, "memberflow", {**changed, "id": "typeform-resp-0003"}, configured)
    by_key = {r.key: r for r in rows(engine, SurveyResponse)}
    assert set(by_key) == {"exit:crm-m-77:typeform-resp-0001", "exit:eve"}
    first = by_key["exit:crm-m-77:typeform-resp-0001"]
    assert (first.answer, first.source, first.comment) == (
        "switched_service",
        "typeform",
        "Found one with a mobile app",
    )
    assert by_key["exit:eve"].answer == "too_expensive" and first.subscription_id is not None


def test_a_survey_answer_that_is_not_one_of_memberflows_is_refused(client, configured, engine):
    bad = sample("memberflow", "survey.answered")
    bad["answer"]["answer"] = "meh"
    response = send(client, "memberflow", bad, configured)
    assert response.status_code == 422 and "not an answer to the exit survey" in response.text
    missing = sample("memberflow", "survey.answered", id="typeform-resp-0009")
    del missing["answer"]
    response = send(client, "memberflow", missing, configured)
    assert response.status_code == 422 and response.json()["field"] == "answer"


def test_a_malformed_address_is_kept_flagged_and_cleared_by_a_good_one(client, configured, engine):
    payload = sample("memberflow", "payment.failed")
    payload["member"] = {**payload["member"], "email": "eve(at)example.com"}
    response = send(client, "memberflow", payload, configured)
    assert response.status_code == 200 and response.json()["status"] == "applied"
    [member] = rows(engine, Member)
    assert member.email == "eve(at)example.com"  # the provider's word, as sent
    assert "is not an email address" in member.email_problem
    fixed = sample("memberflow", "payment.failed", id="crm-evt-0002")
    fixed["occurred_at"] = "2026-11-21T09:30:00Z"
    assert send(client, "memberflow", fixed, configured).status_code == 200
    [member] = rows(engine, Member)
    assert (member.email, member.email_problem) == ("eve@example.com", None)


# -- input that can never be stored: a 4xx, so the provider stops retrying; nothing kept --------


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"type": "\udfff"}, "event_type"),  # a lone surrogate: not text in any database
        ({"id": "evt_" + "x" * 393}, "id"),  # longer than the inbox's event id column
    ],
    ids=["lone-surrogate", "long-id"],
)
def test_a_signed_stripe_event_that_cannot_be_stored_is_a_422(
    client, configured, engine, changes, field
):
    response = send(
        client, "stripe", sample("stripe", "invoice.payment_failed", **changes), configured
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert rows(engine, InboxEvent) == []


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_with_no_utc_equivalent_is_a_422_not_a_retry_later(
    client, configured, engine, moment
):
    payload = sample("memberflow", "payment.failed", occurred_at=moment)
    response = send(client, "memberflow", payload, configured)
    assert response.status_code == 422, response.text
    assert "occurred_at" in response.json()["field"]
    assert rows(engine, InboxEvent) == []


# -- a 2xx means stored in the configured database; /health says when it cannot be ------------


def sqlite_file(settings) -> Path:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("a database file is SQLite's")
    return Path(settings.database_url.removeprefix("sqlite:///"))


def test_health_is_ok_when_webhooks_can_be_stored(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_a_database_file_replaced_under_the_ingress_acknowledges_nothing(client, configured):
    path = sqlite_file(configured)
    path.rename(path.with_suffix(".moved"))  # what a careless restore or cleanup does
    path.write_bytes(b"")
    response = send(client, "memberflow", sample("memberflow", "payment.failed"), configured)
    assert response.status_code == 503 and "removed or replaced" in response.json()["error"]
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert "restart the process" in health.json()["problem"]


def test_health_answers_at_once_and_degraded_while_a_writer_holds_the_database(client, configured):
    holder = sqlite3.connect(sqlite_file(configured), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        health = client.get("/health")
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
        assert health.status_code == 503 and "cannot take a write now" in health.json()["problem"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/health").status_code == 200


def test_a_card_expiry_no_calendar_holds_is_kept_unknown_not_a_failure(client, configured, engine):
    """Found by the fuzzer: `exp_year` 10**20 crashed applying the event (OverflowError)."""
    for name in ("customer.created", "customer.subscription.created"):
        send(client, "stripe", sample("stripe", name), configured)
    event = sample("stripe", "payment_method.updated", id="evt_huge_year")
    event["data"]["object"]["card"].update(exp_month=99, exp_year=10**20)
    answer = send(client, "stripe", event, configured)
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        row = session.exec(select(InboxEvent).where(InboxEvent.key == "stripe:evt_huge_year")).one()
        sub = session.exec(select(Subscription)).one()
    assert row.status != "failed", row.note
    assert (sub.card_exp_month, sub.card_exp_year) == (None, None)
