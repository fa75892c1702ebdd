"""A few poison messages do not stop an output (issue 28): a receiver that always answers 500 to
three members' messages, and 200 to everyone else's. Every other message goes out in the first
run; the three are tried again on a schedule, never in front of the rest, and are dead after
their attempts with the receiver's answer; ops see them and requeue them after the fix. A
receiver that refuses everything still trips the breaker, and spends nobody's attempts.

The real reminder flow under the Prefect harness, a real HTTP receiver on loopback, SQLite and
(when configured) PostgreSQL."""

import json
from collections import Counter
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from blocks.outputs.webhook import WebhookOutput
from flows.reminders import reminders
from memberflow.core import db as database
from memberflow.messaging import outbox_admin
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.prefect_api import flow_run_artifacts
from tests.support.servers import HttpReceiver, Reply

pytestmark = pytest.mark.usefixtures("prefect_harness")

AS_OF, RENEWS = at("2026-12-01 09:00"), at("2026-12-08 10:00")
POISON = {"s007", "s070", "s140"}  # the CRM chokes on these members' data
CRM_SAYS = '{"error": "field tier is required"}'
OUTPUT = "memberflow-webhook-output/crm"


@pytest.fixture(autouse=True)
def no_waiting_between_http_tries(monkeypatch):
    """The output's own quick retries (1, 2, 4 s) are not what this is about."""
    monkeypatch.setattr("memberflow.messaging.http._sleep", lambda seconds: None)


def subscription_of(body: bytes) -> str:
    return json.loads(body)["key"].split(":")[2]


def touchpoints(engine, status: str) -> dict[str, tuple[int, str | None]]:
    """subscription -> (attempts, error) of the touchpoints in `status`."""
    with database.get_engine(engine.url.render_as_string(False)).connect() as conn:
        rows = list(outbox_admin.list_touchpoints(conn, statuses=[status]))
    return {row.subscription: (row.attempts, row.error) for row in rows}


def run(moment):
    return reminders(as_of=moment, output=OUTPUT, return_state=True)


def test_three_poison_messages_among_150_stop_nothing_and_die_after_their_attempts(
    settings, engine
):
    for n in range(150):
        add_subscription(engine, f"s{n:03d}", current_period_end=RENEWS)
    with HttpReceiver() as receiver:
        receiver.reply_body = lambda: CRM_SAYS
        poisoned = lambda body: Reply(500) if subscription_of(body) in POISON else None  # noqa: E731
        receiver.faults = poisoned
        WebhookOutput(url=f"{receiver.url}/hook", secret="s").save("crm", overwrite=True)

        first = run(AS_OF)
        assert first.is_completed() and first.name == "Completed with failures"
        assert first.result()[-1]["sent"] == 147  # everyone else's, in the first run
        failed = touchpoints(engine, "failed")
        assert set(failed) == POISON and {attempts for attempts, _ in failed.values()} == {1}

        # their next tries wait (10 min, then 40 min, 2 h 40, 10 h 40): a run before that
        # leaves them alone, and they never stand in front of anyone else's message
        add_subscription(engine, "s150", current_period_end=RENEWS + timedelta(minutes=5))
        before = len(receiver.requests)
        early = run(AS_OF + timedelta(minutes=9))
        assert early.result()[-1]["sent"] == 1 and early.is_completed()
        assert len(receiver.requests) == before + 1  # the newcomer's only

        for minutes in (10, 50, 210):
            state = run(AS_OF + timedelta(minutes=minutes))
            assert state.name == "Completed with failures"  # never "the output is failing"
        last = run(AS_OF + timedelta(minutes=850))
        assert last.result()[-1]["dead"] == 3

    dead = touchpoints(engine, "dead")
    assert set(dead) == POISON
    for attempts, error in dead.values():  # the policy's attempts, with the receiver's answer
        assert attempts == 5 and error.startswith("HTTP 500 from http://127.0.0.1:")
        assert "field tier is required" in error
    tried = Counter(subscription_of(request.body) for request in receiver.requests)
    assert all(tried[member] == 1 for member in tried if member not in POISON)
    assert all(tried[member] == 5 * 4 for member in POISON)  # 5 runs, each 1 + 3 quick retries

    artifacts = flow_run_artifacts(last.state_details.flow_run_id)
    [letters] = [a for a in artifacts if a["key"] == "reminders-dead-letters"]
    assert sum("field tier is required" in row["why"] for row in json.loads(letters["data"])) == 3

    # the CRM is fixed: ops requeue them, and the next run sends each once
    from memberflow.cli import app

    requeued = CliRunner().invoke(app, ["requeue", "--pipeline", "reminders"])
    assert requeued.exit_code == 0 and "3 dead message(s) requeued" in requeued.output
    with HttpReceiver() as fixed:
        WebhookOutput(url=f"{fixed.url}/hook", secret="s").save("crm", overwrite=True)
        again = run(AS_OF + timedelta(hours=15))
    assert again.is_completed() and again.result()[-1]["sent"] == 3
    assert {subscription_of(request.body) for request in fixed.requests} == POISON


def test_a_receiver_that_refuses_everything_still_trips_the_breaker(settings, engine):
    for n in range(150):
        add_subscription(engine, f"s{n:03d}", current_period_end=RENEWS)
    with HttpReceiver() as receiver:
        receiver.faults = lambda body: Reply(500)
        WebhookOutput(url=f"{receiver.url}/hook", secret="s").save("crm", overwrite=True)
        state = run(AS_OF)
    reason = str(state.result(raise_on_failure=False))
    assert state.is_failed() and "failed 5 times in a row (HTTP 500" in reason, reason
    tried = {subscription_of(request.body) for request in receiver.requests}
    assert len(tried) == 5  # five different messages, then it stopped
    failed = touchpoints(engine, "failed")
    assert set(failed) == tried and {attempts for attempts, _ in failed.values()} == {0}
    assert len(touchpoints(engine, "pending")) == 145  # nobody's attempts spent
