"""The real survey flow under the Prefect test harness: invitations sent once, the results
published as table artifacts, and `memberflow surveys results` printing the same."""

import json

import pytest
from typer.testing import CliRunner

from flows.surveys import surveys
from memberflow.core.db import get_engine
from memberflow.pipelines.surveys import records
from tests.support.cancellations import cancel
from tests.support.clock import at
from tests.support.factories import add_subscription, update_subscription
from tests.support.prefect_api import flow_run_artifacts

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_flow_sends_each_survey_once_and_publishes_the_results(settings, engine):
    for n in range(3):
        add_subscription(engine, f"s{n}", current_period_end=at("2026-12-20 00:00"))
        update_subscription(engine, f"s{n}", started_at=at("2026-06-01 00:00"))
        cancel(engine, f"s{n}", at("2026-12-01 09:00"))
    update_subscription(engine, "s2", cancel_feedback="too_expensive")  # told Stripe
    state = surveys(as_of=at("2026-12-02 10:00"), lookback_days=2, return_state=True)
    again = surveys(as_of=at("2026-12-02 10:00"), lookback_days=2)
    assert state.result()[-1]["sent"] == 2 and again[-1]["sent"] == 0
    with get_engine(settings.database_url).begin() as conn:
        records.record_answer(
            conn,
            key="exit:s0:2026-12-01",
            survey="exit",
            member_id=1,
            answer="unused",
            comment="No time",
            source="page",
            now=at("2026-12-02 12:00"),
        )
    surveys(as_of=at("2026-12-03 10:00"))
    artifacts = {a["key"]: a for a in flow_run_artifacts(state.state_details.flow_run_id)}
    assert {"surveys-summary", "surveys-responses", "surveys-nps"} <= set(artifacts)
    rates = json.loads(artifacts["surveys-responses"]["data"])
    assert rates == [
        {
            "survey": "exit",
            "invited": 2,
            "opened": 0,
            "answered": 0,
            "response_rate": "0%",
            "answered_elsewhere": 1,
        }
    ]

    from memberflow.cli import app

    result = CliRunner().invoke(app, ["surveys", "results", "--format", "json"])
    assert result.exit_code == 0, result.output
    tables = json.loads(result.output)
    exit_rates = tables["responses"][0]
    assert (exit_rates["invited"], exit_rates["answered"], exit_rates["response_rate"]) == (
        2,
        1,
        "50%",
    )
    by_product = {(r["reason"], r["answers"]) for r in tables["exit reasons by product"]}
    assert by_product == {("unused", 1), ("too_expensive", 1)}
    assert tables["latest comments"][0]["comment"] == "No time"
    table = CliRunner().invoke(app, ["surveys", "results", "--product", "monthly"])
    assert "exit reasons by tenure" in table.output and "6 months" not in table.output
    csv = CliRunner().invoke(app, ["surveys", "results", "--format", "csv"])
    assert "# responses\nsurvey,invited,opened,answered" in csv.output
