"""The worked examples of docs/extending.md work as the docs say."""

import json

import pytest

from blocks.outputs.webhook import WebhookOutput
from examples.crm_flow import reminders_with_crm
from examples.slack_output import SlackOutput
from tests.support.blocks import OfflineBlockStandardTestSuite
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.outputs import message
from tests.support.servers import HttpReceiver


class TestSlackOutputBlock(OfflineBlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return SlackOutput


def test_the_custom_output_posts_to_slack():
    with HttpReceiver() as slack:
        receipt = SlackOutput(webhook_url=f"{slack.url}/services/T0/B0/secret").send(message())
    [request] = slack.requests
    assert receipt.detail == "slack HTTP 200"
    assert request.json()["text"].startswith("*Your membership renews on December 8, 2026*")


@pytest.mark.usefixtures("prefect_harness")
def test_custom_tasks_enrich_before_rendering_and_report_after(settings, engine):
    add_subscription(engine, "s1", current_period_end=at("2026-12-08 10:00"), email="vip@x.io")
    add_subscription(engine, "s2", current_period_end=at("2026-12-08 10:00"))
    with HttpReceiver() as crm, HttpReceiver() as hooks:
        crm.reply_body = lambda: json.dumps({"vip@x.io": "gold"})  # the CRM's answer: tiers
        WebhookOutput(url=f"{hooks.url}/messages", secret="s").save("crm-demo", overwrite=True)
        rows = reminders_with_crm(
            crm_url=f"{crm.url}/tiers",
            summary_webhook_url=f"{hooks.url}/summary",
            as_of=at("2026-12-01 09:00"),
            output="memberflow-webhook-output/crm-demo",
        )
    assert rows[-1]["sent"] == 2
    [crm_call] = crm.requests
    assert sorted(crm_call.json()["emails"]) == ["m-s2@example.com", "vip@x.io"]
    tiers = {
        r.json()["to_email"]: r.json()["fields"]["tier"]
        for r in hooks.requests
        if r.path == "/messages"
    }
    assert tiers == {"vip@x.io": "gold", "m-s2@example.com": "member"}
    [summary] = [r for r in hooks.requests if r.path == "/summary"]
    assert summary.json() == {"text": "Reminders: 2 sent, 0 failed, 0 expired"}
