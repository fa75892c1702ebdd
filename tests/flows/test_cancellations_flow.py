"""The real cancellation follow-up flow under the Prefect test harness, into a real HTTP
receiver through a saved webhook Block: exactly once, with the unsubscribe link as a field."""

import json

import pytest
from typer.testing import CliRunner

from blocks.outputs.webhook import WebhookOutput
from flows.cancellations import cancellations
from tests.support.cancellations import cancel, set_member
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.prefect_api import flow_run_artifacts
from tests.support.servers import HttpReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

OFFERS = {"monthly": {"code": "COMEBACK", "description": "a free month", "valid_days": 30}}


def test_the_flow_follows_up_once_and_the_webhook_gets_the_unsubscribe_link(settings, engine):
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    set_member(engine, "ada", marketing_consent=True)
    cancel(engine, "s1", at("2026-12-01 09:00"), at_period_end=True)
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret="s3cret").save("goodbyes", overwrite=True)
        output = "memberflow-webhook-output/goodbyes"
        for as_of in ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", "2027-01-03T10:00:00Z"):
            state = cancellations(
                as_of=as_of, offers=OFFERS, output=output, lookback_days=1, return_state=True
            )
        again = cancellations(as_of="2027-01-03T10:00:00Z", offers=OFFERS, output=output)
    bodies = [request.json() for request in receiver.requests]
    assert [body["step"] for body in bodies] == ["confirmation", "winback_14d"]
    confirmation, winback = bodies
    assert confirmation["unsubscribe_url"] is None
    assert winback["unsubscribe_url"].startswith(f"{settings.public_url}/unsubscribe/")
    assert winback["fields"]["offer"]["code"] == "COMEBACK"
    assert again[-1]["sent"] == 0
    summary = {a["key"]: a for a in flow_run_artifacts(state.state_details.flow_run_id)}
    rows = json.loads(summary["cancellations-summary"]["data"])
    assert next(row for row in rows if row["step"] == "winback_14d")["sent"] == 1


def test_memberflow_run_cancellations_takes_the_offers_as_a_parameter(settings, engine):
    from memberflow.cli import app

    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    cancel(engine, "s1", at("2026-12-01 09:00"))
    result = CliRunner().invoke(
        app,
        [
            "run",
            "cancellations",
            "--simulate",
            "--as-of",
            "2026-12-01T10:00:00Z",
            "--param",
            f"offers={json.dumps(OFFERS)}",
            "--param",
            "lookback_days=1",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "confirmation" in result.output
    assert len(list(settings.outbox_dir.glob("cancellations_confirmation_*.eml"))) == 1
