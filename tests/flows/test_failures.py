"""What ops see when things fail, under the Prefect harness: an output that is down (refusing
or hung) fails the run with a message that says which Block, why and what to do, after a few
tries only, and leaves the rest pending; one member's bad address ends it `Completed with
failures`, with a warning; the CLI's exit code says which happened."""

import time

import pytest
from typer.testing import CliRunner

from blocks.outputs.smtp import SmtpOutput
from flows.reminders import reminders
from memberflow.core.models import Touchpoint
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import HungServer, SmtpSink, free_port, smtp_server

pytestmark = pytest.mark.usefixtures("prefect_harness")
AS_OF, RENEWS = at("2026-12-01 09:00"), at("2026-12-08 10:00")


def statuses(engine) -> list[tuple[str, int]]:
    from sqlmodel import Session, select

    with Session(engine) as session:
        rows = session.exec(select(Touchpoint).order_by(Touchpoint.id)).all()
    return [(row.status, row.attempts) for row in rows]


def members(engine, n: int) -> None:
    for i in range(n):
        add_subscription(engine, f"s{i}", current_period_end=RENEWS)


def test_a_refusing_smtp_server_fails_the_run_after_five_tries(settings, engine):
    members(engine, 8)
    SmtpOutput(host="127.0.0.1", port=free_port(), security="none", from_address="b@x.org").save(
        "down", overwrite=True
    )
    state = reminders(as_of=AS_OF, output="memberflow-smtp-output/down", return_state=True)
    assert state.is_failed()
    message = state.message + str(state.result(raise_on_failure=False))
    assert "memberflow-smtp-output/down" in message and "failed 5 times in a row" in message
    assert "ConnectionRefusedError" in message and "3 message(s) were not tried" in message
    # the server's failure uses up none of the members' attempts
    assert statuses(engine) == [("failed", 0)] * 5 + [("pending", 0)] * 3


def test_a_hung_smtp_server_costs_five_timeouts_not_one_per_member(settings, engine):
    members(engine, 10)
    with HungServer() as hung:
        output = SmtpOutput(
            host="127.0.0.1", port=hung.port, security="none", from_address="b@x.org", timeout=0.5
        )
        output.save("hung", overwrite=True)
        state = reminders(as_of=AS_OF, output="memberflow-smtp-output/hung", return_state=True)
        tried = len(hung.connections)
    reason = str(state.result(raise_on_failure=False))
    assert state.is_failed() and "timed out" in reason.lower(), reason
    assert tried == 5  # then it stopped: the other 5 wait for the next run
    assert sum(1 for status, _ in statuses(engine) if status == "pending") == 5


def test_one_refused_address_is_dead_and_the_run_completed_with_a_warning(settings, engine, caplog):
    members(engine, 3)
    sink = SmtpSink(reject_rcpt="m-s1@example.com")
    controller = smtp_server(sink)
    try:
        SmtpOutput(
            host="127.0.0.1", port=controller.port, security="none", from_address="b@x.org"
        ).save("fine", overwrite=True)
        with caplog.at_level("WARNING"):
            state = reminders(as_of=AS_OF, output="memberflow-smtp-output/fine", return_state=True)
    finally:
        controller.stop()
    assert state.is_completed() and state.name == "Completed with failures"
    # a 550 "no such mailbox" is for good: dead at once, not retried (docs/reliability.md)
    assert state.message.startswith("1 message(s) dead") and "0 failed" in state.message
    assert state.result()[-1]["dead"] == 1  # the summary is still the run's result
    assert len(sink.messages) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    said = "dead, not sent: reminders:renewal_7d:s1:2026-12-08:email: SMTP"
    assert any(said in w and "recipient refused" in w for w in warnings), warnings


def test_the_cli_exit_code_says_what_happened(settings, engine):
    from memberflow.cli import app

    runner = CliRunner()
    nothing = runner.invoke(
        app, ["run", "reminders", "--simulate", "--as-of", "2026-12-01T09:00:00Z"]
    )
    assert nothing.exit_code == 0, nothing.output
    members(engine, 2)
    SmtpOutput(host="127.0.0.1", port=free_port(), security="none", from_address="b@x.org").save(
        "gone", overwrite=True
    )
    args = ["run", "reminders", "--simulate", "--as-of", "2026-12-01T09:00:00Z"]
    down = runner.invoke(app, [*args, "--output", "memberflow-smtp-output/gone"])
    assert down.exit_code == 3 and "the output memberflow-smtp-output/gone failed" in down.output
    sink = SmtpSink(reject_rcpt="m-s0@example.com")
    controller = smtp_server(sink)
    try:
        SmtpOutput(
            host="127.0.0.1", port=controller.port, security="none", from_address="b@x.org"
        ).save("picky", overwrite=True)
        some = runner.invoke(app, [*args, "--output", "memberflow-smtp-output/picky"])
    finally:
        controller.stop()
    assert some.exit_code == 2, some.output
    assert "1 message(s) dead" in some.output


def test_runs_and_tasks_are_named_after_what_they_covered(settings, engine):
    import httpx
    from prefect.settings import PREFECT_API_URL

    members(engine, 3)
    state = reminders(as_of=AS_OF, batch_size=2, return_state=True)
    api = PREFECT_API_URL.value()
    run_id = str(state.state_details.flow_run_id)
    flow_run = httpx.get(f"{api}/flow_runs/{run_id}").json()
    assert flow_run["name"] == "reminders 2026-12-01"
    query = {"flow_runs": {"id": {"any_": [run_id]}}}

    def task_names() -> set[str]:
        return {task["name"] for task in httpx.post(f"{api}/task_runs/filter", json=query).json()}

    deadline = time.monotonic() + 20  # task runs reach the server as events, a moment later
    while not {"deliver reminders #1+ (2)", "deliver reminders #3+ (2)"} <= (names := task_names()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "plan renewal_7d from 2026-12-04 22:00" in names, names
    assert any(name.startswith("plan card_expiry_30d from 2026-") for name in names), names
    assert {"deliver reminders #1+ (2)", "deliver reminders #3+ (2)"} <= names, names


def test_one_command_sets_up_a_notification_for_failed_runs(settings):
    import httpx
    from prefect.blocks.notifications import SlackWebhook
    from prefect.settings import PREFECT_API_URL

    from memberflow.cli import app

    SlackWebhook(url="http://127.0.0.1:9/hooks/ops").save("ops", overwrite=True)
    for _ in range(2):  # applied twice: still one automation
        result = CliRunner().invoke(app, ["server", "notify-on-failure", "slack-webhook/ops"])
        assert result.exit_code == 0, result.output
    automations = httpx.post(f"{PREFECT_API_URL.value()}/automations/filter", json={}).json()
    [mine] = [a for a in automations if a["name"] == "memberflow run failed"]
    assert set(mine["trigger"]["expect"]) == {  # a set on the server: any order
        "prefect.flow-run.Failed",
        "prefect.flow-run.Completed with failures",
    }
    names = mine["trigger"]["match_related"]["prefect.resource.name"]
    assert {"billing-reminders", "dunning", "cancellation-follow-up", "feedback-surveys"} <= set(
        names
    )
    missing = CliRunner().invoke(app, ["server", "notify-on-failure", "slack-webhook/nope"])
    assert missing.exit_code == 1 and "no notification block" in missing.output
