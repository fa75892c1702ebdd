"""The real dunning flow under the session's Prefect harness: saved gateway and output Blocks,
an escalation delivered as a signed webhook to a real receiver, the run's artifact."""

import json
from datetime import timedelta

import pytest

from blocks.gateways.sandbox import SandboxGateway
from blocks.outputs.webhook import WebhookOutput
from flows.dunning import dunning
from memberflow.core.signing import verify
from memberflow.pipelines.dunning.policy import DunningPolicy
from tests.support.clock import at
from tests.support.dunning import failed_renewal, set_card, subscription_of
from tests.support.prefect_api import flow_run_artifacts
from tests.support.servers import HttpReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

FAILED = at("2026-12-01 09:30")
DAY0 = at("2026-12-01 10:00")


def test_a_failed_payment_event_opens_its_case_and_sends_the_first_notice(settings, engine):
    invoice = failed_renewal(engine, "ev", card="0069", decline="expired_card", failed_at=FAILED)
    failed_renewal(engine, "other", card="0002", decline="generic_decline", failed_at=FAILED)
    state = dunning(
        as_of=DAY0, invoice_id=invoice, event="memberflow.payment.failed", return_state=True
    )
    summary = state.result()
    assert (summary["opened"], summary["advanced"], summary["emails_sent"]) == (1, 1, 1)
    [email] = settings.outbox_dir.glob("*.eml")
    assert email.name == "dunning_first_notice_in_ev_2026-12-01_email.eml"
    artifacts = {a["key"]: a for a in flow_run_artifacts(state.state_details.flow_run_id)}
    assert {"dunning-cases", "dunning-summary", "dunning-ops-summary"} <= set(artifacts)
    table = {row["measure"]: row["value"] for row in json.loads(artifacts["dunning-cases"]["data"])}
    assert table["opened"] == "1" and table["emails_sent"] == "1"

    # the member puts in a new card: the card-updated trigger passes the member's id
    set_card(engine, "sub_ev", "4242", exp=(3, 2031))
    member_id = subscription_of(engine, "sub_ev").member_id
    later = dunning(as_of=DAY0 + timedelta(hours=5), member_id=member_id)
    assert later["retries"] == 1 and later["recovered"] == 1
    assert later["recovered_amount"] == "$19.99" and later["announced"] == 1


def test_saved_blocks_and_an_escalation_ticket_through_a_signed_webhook(settings, engine):
    failed_renewal(
        engine, "vip", card="0002", decline="generic_decline", failed_at=FAILED, amount_minor=90_000
    )
    SandboxGateway(funds_arrive_after_days=30).save("flow-test", overwrite=True)
    policy = DunningPolicy(escalate_value_minor=50_000, escalate_value="plan_price")
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret="tickets-secret").save("tickets", overwrite=True)
        summary = dunning(
            as_of=DAY0,
            policy=policy,
            gateway="memberflow-sandbox-gateway/flow-test",
            ops_output="memberflow-webhook-output/tickets",
        )
        again = dunning(
            as_of=DAY0 + timedelta(hours=1),
            policy=policy,
            ops_output="memberflow-webhook-output/tickets",
        )
    assert summary["escalations"] == 1 and summary["tickets_sent"] == 1
    assert again["escalations"] == 0 and again["tickets_sent"] == 0  # once per case
    [ticket] = receiver.requests
    assert verify("tickets-secret", ticket.headers, ticket.body)
    body = ticket.json()
    assert body["step"] == "escalation" and body["to_email"] == settings.support_email
    assert body["fields"]["email"] == "m-sub_vip@example.com"
    assert body["fields"]["amount"] == "$900.00"
    assert "Suggested message" in body["text"]


def test_a_policy_from_the_ui_arrives_as_json_and_is_validated(settings, engine):
    with pytest.raises(Exception, match="final_action_day"):
        dunning(as_of=DAY0, policy={"retry_days": [1, 12]})
