"""The retention-report flow under the session's Prefect harness: a markdown summary and one
table per breakdown, under keys that stay the same from run to run (the UI keeps their history)."""

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from flows.retention_report import retention_report
from memberflow.messaging import experiments
from tests.support.history import JANUARY, NOVEMBER, joined, left
from tests.support.prefect_api import flow_run_artifacts

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_report_publishes_a_summary_and_tables_under_stable_keys(settings, engine):
    for name in ("s1", "s2"):
        joined(engine, name, JANUARY)
    left(engine, "s2", NOVEMBER.start.replace(day=20))
    with engine.begin() as conn:
        plan = experiments.ExperimentPlan(
            name="winback-test", pipeline="cancellations", step="winback", holdout=0.1
        )
        experiments.start(conn, plan, NOVEMBER.start)
    keys = []
    for _ in range(2):
        state = retention_report(as_of=NOVEMBER.end, days=30, return_state=True)
        artifacts = flow_run_artifacts(state.state_details.flow_run_id)
        keys.append(sorted(artifact["key"] for artifact in artifacts))
    assert keys[0] == keys[1]  # the same keys each run: the UI shows their history
    run = httpx.get(f"{PREFECT_API_URL.value()}/flow_runs/{state.state_details.flow_run_id}")
    assert run.json()["name"] == "retention 2026-11-01 to 2026-12-01"  # named by its period
    assert "retention-all-summary" in keys[0] and "retention-all-churn" in keys[0]
    [summary] = [a for a in artifacts if a["key"] == "retention-all-summary"]
    assert summary["type"] == "markdown" and "| member churn | 50.0%" in summary["data"]
    assert "## USD" in state.result()
    assert "retention-all-experiments" in keys[0]
    assert "## Experiment winback-test (cancellations/winback, goal: came back)" in summary["data"]
