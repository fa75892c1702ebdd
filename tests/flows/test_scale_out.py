"""Several workers, one Prefect server: the limits they share, the automation that crashes a
dead worker's runs, under the session's Prefect harness."""

import os
from datetime import UTC, datetime, timedelta

import dask
import httpx
import pytest
from prefect import flow, get_client, task
from prefect.settings import PREFECT_API_URL
from sqlalchemy import select, update
from typer.testing import CliRunner

from blocks.outputs.webhook import WebhookOutput
from flows._partitions import task_runner
from flows.reminders import reminders
from memberflow.cli import app
from memberflow.core.models import Touchpoint
from memberflow.core.settings import get_settings
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.clock import at
from tests.support.delivery import plan_all
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")
AS_OF, RENEWS = at("2026-12-01 09:00"), at("2026-12-08 10:00")


def invoke(*args):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_one_command_installs_the_automation_that_crashes_a_dead_workers_runs(settings):
    for _ in range(2):  # applied twice: still one automation
        result = invoke("server", "crash-zombies")
    assert "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in result.output
    automations = httpx.post(f"{PREFECT_API_URL.value()}/automations/filter", json={}).json()
    [mine] = [a for a in automations if a["name"] == "memberflow crash zombie runs"]
    trigger = mine["trigger"]
    assert trigger["posture"] == "Proactive" and trigger["after"] == ["prefect.flow-run.heartbeat"]
    assert "prefect.flow-run.Completed" in trigger["expect"] and trigger["within"] == 90
    assert mine["actions"][0]["type"] == "change-flow-run-state"
    assert mine["actions"][0]["state"] == "CRASHED"


@pytest.fixture
def shared(settings, monkeypatch):
    monkeypatch.setenv("MEMBERFLOW_SHARED_OUTPUT_LIMITS", "true")
    get_settings.cache_clear()
    for n in range(5):
        add_subscription(settings_engine(), f"s{n}", current_period_end=RENEWS)
    yield
    get_settings.cache_clear()


def settings_engine():
    from memberflow.core.db import get_engine

    return get_engine(get_settings().database_url)


def test_workers_share_an_outputs_limits_through_prefects_global_limits(shared):
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret="s", max_concurrency=3, rate_limit=50).save(
            "shared", overwrite=True
        )
        result = invoke("server", "share-limits", "memberflow-webhook-output/shared")
        assert "memberflow-memberflow-webhook-output-shared: at most 3 sends" in result.output
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/shared")
    assert rows[-1]["sent"] == 5 and len(receiver.requests) == 5
    with get_client(sync_client=True) as client:
        in_flight = client.read_global_concurrency_limit_by_name(
            "memberflow-memberflow-webhook-output-shared"
        )
        rate = client.read_global_concurrency_limit_by_name(
            "memberflow-memberflow-webhook-output-shared-rate"
        )
    assert (in_flight.limit, in_flight.active_slots) == (3, 0)  # every slot given back
    assert (rate.limit, rate.slot_decay_per_second) == (50, 50)


def test_shared_limits_that_were_never_created_stop_the_run_before_it_claims(shared):
    WebhookOutput(url="http://127.0.0.1:9", secret="s").save("unshared", overwrite=True)
    state = reminders(as_of=AS_OF, output="memberflow-webhook-output/unshared", return_state=True)
    message = str(state.result(raise_on_failure=False))
    assert state.is_failed() and "memberflow server share-limits" in message, message
    with settings_engine().connect() as conn:
        assert set(conn.execute(select(Touchpoint.status)).scalars()) == {"pending"}


@pytest.fixture
def partitioned(settings, monkeypatch):
    def use(runner: str, parts: int):
        monkeypatch.setenv("MEMBERFLOW_DELIVERY_PARTITIONS", str(parts))
        monkeypatch.setenv("MEMBERFLOW_TASK_RUNNER", runner)
        get_settings.cache_clear()

    for n in range(30):
        add_subscription(settings_engine(), f"s{n:02d}", current_period_end=RENEWS)
    yield use
    get_settings.cache_clear()


@pytest.mark.parametrize("runner", ["threads", "dask"])
def test_partitions_deliver_what_one_pass_does_on_threads_and_on_dask(partitioned, runner):
    """Dask's worker processes get the database as its URL and the output as its Block name
    (an Engine does not pickle), and report to this run's Prefect server."""
    partitioned(runner, 3)
    with HttpReceiver(latency=0.01) as receiver:
        WebhookOutput(url=receiver.url, secret="s").save("parts", overwrite=True)
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/parts", batch_size=4)
    assert rows[-1]["sent"] == 30
    keys = [request.headers["Idempotency-Key"] for request in receiver.requests]
    assert len(keys) == 30 and len(set(keys)) == 30  # each once, none lost


@task
def profiler_setting() -> tuple[int, bool]:
    return os.getpid(), dask.config.get("distributed.worker.profile.enabled")


@flow
def ask_a_worker() -> tuple[int, bool]:
    return profiler_setting.submit().result()


def test_dask_workers_run_without_the_profiler_that_deadlocks_python_3_11(settings):
    """A partition on a Dask worker froze for good after a few thousand messages: the
    worker's profiler (`sys._current_frames()` every 10 ms) deadlocked with a garbage
    collection among its sending threads (cpython#116969)."""
    runner = task_runner(settings.model_copy(update={"task_runner": "dask"}), 1)
    pid, profiling = ask_a_worker.with_options(task_runner=runner)()
    assert pid != os.getpid()  # it ran in a worker process
    assert profiling is False


def test_a_rerun_right_after_a_crash_waits_out_the_dead_runs_lease_and_sends(
    settings, monkeypatch, caplog
):
    monkeypatch.setenv("MEMBERFLOW_CLAIM_LEASE_SECONDS", "4")
    get_settings.cache_clear()
    engine = settings_engine()
    for n in range(4):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    plan_all(engine, ReminderPipeline(), AS_OF, AS_OF - timedelta(days=7), channel="webhook")
    with HttpReceiver() as receiver:
        with engine.begin() as conn:  # a run that claimed them and died this instant
            conn.execute(
                update(Touchpoint).values(
                    status="sending", claimed_by="dead run", claimed_at=datetime.now(UTC)
                )
            )
        WebhookOutput(url=receiver.url, secret="s").save("rerun", overwrite=True)
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/rerun")
    assert rows[-1]["sent"] == 4 and len(receiver.requests) == 4
    assert "4 message(s) are held by another run" in caplog.text
    get_settings.cache_clear()
