"""The ingress against a real Prefect server: events reach it (later, if it was down), and a
Stripe payment failure starts a run of the deployment whose trigger prefect.yaml declares."""

import json
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests
from sqlmodel import SQLModel

from bench.burst import deploy_prefect_yaml, deployment_runs
from memberflow.core import db as database
from memberflow.core.settings import Settings
from memberflow.ingress import inbox
from memberflow.ingress.app import create_app
from memberflow.ingress.emitter import Emitter, PrefectApi
from tests.support.servers import AppServer, free_port
from tests.support.webhooks import SECRETS, sample

pytestmark = pytest.mark.usefixtures("prefect_harness")


def prefect_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture
def ingress_settings(tmp_path) -> Settings:
    url = f"sqlite:///{tmp_path / 'ingress.db'}"
    SQLModel.metadata.create_all(database.get_engine(url))
    secrets = {k.removeprefix("MEMBERFLOW_").lower(): v for k, v in SECRETS.items()}
    return Settings(database_url=url, **secrets)


def post_signed(base_url: str, payload: dict, settings: Settings) -> dict:
    from memberflow.ingress.replay import signed_request

    path, body, headers = signed_request("stripe", json.dumps(payload).encode(), settings)
    response = requests.post(base_url + path, data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def prefect_events(name: str, resource_id: str) -> list[dict]:
    query = {
        "filter": {
            "event": {"name": [name]},
            "resource": {"id": [resource_id]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    response = httpx.post(f"{prefect_url()}/events/filter", json=query, timeout=10)
    response.raise_for_status()
    return response.json()["events"]


def wait_for(check, seconds: float = 60, every: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise AssertionError(f"gave up after {seconds} s")


def test_events_wait_while_prefect_is_down_then_go_once(ingress_settings):
    engine = database.get_engine(ingress_settings.database_url)
    with AppServer(create_app(ingress_settings)) as ingress:  # no Prefect API: nothing emitted
        for name in ("customer.created", "customer.subscription.created"):
            post_signed(
                ingress.url, sample("stripe", name, id=f"evt_down_{name}"), ingress_settings
            )
    assert inbox.count_unemitted(engine) == 2

    down = Emitter(engine, PrefectApi(f"http://127.0.0.1:{free_port()}/api"), timeout=2)
    report = down.emit_pending()
    assert (report.emitted, report.failed) == (0, 2) and "unreachable" in report.error
    assert inbox.count_unemitted(engine) == 2

    up = Emitter(engine, PrefectApi(prefect_url()))
    assert up.emit_pending().emitted == 2
    assert up.emit_pending().emitted == 0
    found = wait_for(
        lambda: prefect_events(
            "memberflow.subscription.created", "memberflow.subscription.sub_Ada001"
        )
    )
    assert found[0]["payload"]["provider_event_id"] == "evt_down_customer.subscription.created"


def deploy_from_prefect_yaml() -> None:
    deploy_prefect_yaml({**os.environ, "PREFECT_API_URL": prefect_url()})
    # another test's runs of it are not this test's (no other test fails a payment here)
    for run in flow_runs_of("dunning/on-payment-failed"):
        httpx.delete(f"{prefect_url()}/flow_runs/{run['id']}", timeout=10).raise_for_status()


def flow_runs_of(deployment: str) -> list[dict]:
    return deployment_runs(prefect_url(), deployment)


def test_a_stripe_payment_failure_starts_the_triggered_deployment(ingress_settings):
    started = datetime.now(UTC)
    deploy_from_prefect_yaml()
    app = create_app(ingress_settings, PrefectApi(prefect_url()))
    with AppServer(app) as ingress:
        for name in ("customer.created", "customer.subscription.created"):
            post_signed(ingress.url, sample("stripe", name), ingress_settings)
        failed = sample("stripe", "invoice.payment_failed", id="evt_e2e_failed")
        accepted = post_signed(ingress.url, failed, ingress_settings)
        assert accepted["event"] == "memberflow.payment.failed"
        again = post_signed(ingress.url, failed, ingress_settings)  # Stripe retries
        assert again["status"] == "duplicate"
        [run] = wait_for(lambda: flow_runs_of("dunning/on-payment-failed"), seconds=90)
        engine = database.get_engine(ingress_settings.database_url)
        assert inbox.count_unemitted(engine) == 0

    # debounced: one run, a minute after the event, for every failure up to then (it reads the
    # database, so the event names nothing more than itself)
    assert run["state"]["type"] == "SCHEDULED" or run["start_time"] is not None
    assert run["parameters"] == {
        "event": "memberflow.payment.failed",
        # the deployment's own parameters, which ops edit in the UI
        "gateway": "",
        "output": "",
        "ops_output": "",
    }
    time.sleep(3)  # a second run would have appeared by now
    assert len(flow_runs_of("dunning/on-payment-failed")) == 1
    # the new subscription has a cancellation follow-up run within the minute (a returning
    # member is noticed at once); the failed payment did not start one. Debounced: when another
    # test's subscription event opened the window moments before, that run serves this one too
    window = started - timedelta(seconds=60)
    follow_ups = [
        run
        for run in flow_runs_of("cancellation-follow-up/on-subscription-canceled")
        if datetime.fromisoformat(run["created"]) >= window
    ]
    assert follow_ups, "no follow-up run within the minute"
    assert {run["parameters"]["event"] for run in follow_ups} == {"memberflow.subscription.created"}
