"""A burst of webhooks, with memberflow deployed as docs/operations.md deploys it: a Prefect
server, the deployments of prefect.yaml, one process worker, and the ingress emitting Prefect
events. Stripe sends 500 signed `invoice.payment_failed` and 500 `customer.subscription.deleted`
at once (the first of the month, a provider sync): how many flow runs they start, how long from
the last webhook to the last message, and the worker's CPU.

    python -m bench.burst [--failed 500] [--deleted 500] [--postgresql]

Starts its own Prefect server (SQLite, in a temporary PREFECT_HOME) and stops it; memberflow's
database is a temporary SQLite file, or with --postgresql the machine's (127.0.0.1:5432, the
database `memberflow_burst`, created and dropped). tests/flows/test_burst.py runs the same
against the test session's Prefect server and checks every member got exactly one message.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import requests
from sqlalchemy import Engine, func, insert, select

from memberflow.core import db as database
from memberflow.core.models import Member, Product, Subscription, Touchpoint
from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.ingress.app import create_app
from memberflow.ingress.emitter import PrefectApi
from memberflow.ingress.replay import signed_request
from memberflow.ingress.serve import BackgroundServer, free_port

STRIPE_SAMPLES = PROJECT_ROOT / "tests" / "data" / "stripe"  # written from Stripe's docs
BIN = Path(sys.executable).parent
SECRET = "whsec_burst"
DEPLOYMENTS = {
    "failed": "dunning/on-payment-failed",
    "deleted": "cancellation-follow-up/on-subscription-canceled",
}
FIRST_MESSAGE = {
    "failed": ("dunning", "first_notice"),
    "deleted": ("cancellations", "confirmation"),
}


def payload(name: str, n: int, now: int) -> dict:
    """Stripe's sample event for member `n`: its own ids, sent just before `now` (the sample's
    times moved together, so their order stays Stripe's)."""
    text = (STRIPE_SAMPLES / f"{name}.json").read_text()
    for sample_id, prefix in [
        ("cus_Ada001", "cus_B"),
        ("sub_Ada001", "sub_B"),
        ("in_Ada002", "in_B"),
        ("ch_Ada002", "ch_B"),
        ("pm_Ada001", "pm_B"),
    ]:
        text = text.replace(sample_id, f"{prefix}{n:05d}")
    text = text.replace("ada@example.com", f"member{n}@example.com")
    event = _shifted(json.loads(text), now - 5 - json.loads(text)["created"])
    event["id"] = f"evt_burst_{name}_{n}"
    if name == "customer.subscription.deleted":  # canceled now, effective at once
        event["data"]["object"]["canceled_at"] = event["created"]
    return event


def _shifted(node, by: int):
    if isinstance(node, dict):
        return {key: _shifted(value, by) for key, value in node.items()}
    if isinstance(node, list):
        return [_shifted(value, by) for value in node]
    if isinstance(node, int) and 1_600_000_000 < node < 2_000_000_000:
        return node + by
    return node


def existing_members(engine: Engine, numbers: range) -> None:
    """The business's members before the burst (as a sync or an import leaves them)."""
    renews = datetime.now(UTC) + timedelta(days=20)
    with engine.begin() as conn:
        conn.execute(insert(Product), [{"external_id": "prod_Gold", "name": "Gold Club"}])
        product = conn.execute(select(Product.id)).scalar_one()
        conn.execute(
            insert(Member),
            [
                {"external_id": f"cus_B{n:05d}", "email": f"member{n}@example.com"}
                | {"first_name": "Ada", "locale": "en", "time_zone": "UTC"}
                for n in numbers
            ],
        )
        ids = {
            row.external_id: row.id for row in conn.execute(select(Member.external_id, Member.id))
        }
        conn.execute(
            insert(Subscription),
            [
                {"external_id": f"sub_B{n:05d}", "member_id": ids[f"cus_B{n:05d}"]}
                | {"product_id": product, "status": "active", "amount_minor": 1900}
                | {"currency": "USD", "interval": "month", "current_period_end": renews}
                for n in numbers
            ],
        )


@dataclass
class Figures:
    webhooks: int = 0
    accept_seconds: float = 0.0
    flow_runs: dict[str, int] = field(default_factory=dict)
    last_webhook_to_last_message: float = 0.0
    messages: dict[str, int] = field(default_factory=dict)
    repeats: int = 0  # members with more than one first message: must be 0
    worker_cpu_seconds: float = 0.0


class Burst:
    """The deployments of prefect.yaml on the Prefect server at `api`, a process worker for
    them, and the ingress, against memberflow's database at `database_url`."""

    def __init__(self, api: str, database_url: str, outbox: Path):
        self.api, self.database_url, self.outbox = api, database_url, outbox
        self.env = {
            **os.environ,
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "5",
            "MEMBERFLOW_DATABASE_URL": database_url,
            "MEMBERFLOW_OUTBOX_DIR": str(outbox),
        }
        self.settings = Settings(database_url=database_url, stripe_webhook_secret=SECRET)

    def deploy(self) -> None:
        deploy_prefect_yaml(self.env)
        for deployment in DEPLOYMENTS.values():  # an earlier run's leftovers are not this burst's
            for run in self.flow_runs(deployment):
                httpx.delete(f"{self.api}/flow_runs/{run['id']}", timeout=10)

    def run(self, failed: int, deleted: int, timeout: float = 900) -> Figures:
        engine = database.get_engine(self.database_url)
        existing_members(engine, range(failed + deleted))
        now = int(time.time())
        events = [payload("invoice.payment_failed", n, now) for n in range(failed)]
        events += [
            payload("customer.subscription.deleted", n, now)
            for n in range(failed, failed + deleted)
        ]
        figures = Figures(webhooks=len(events))
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "memberflow", "--type", "process"],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            app = create_app(self.settings, PrefectApi(self.api))
            with BackgroundServer(app, free_port()) as ingress:
                started = time.monotonic()
                with ThreadPoolExecutor(8) as pool:  # Stripe delivers in parallel
                    answers = list(pool.map(lambda event: self.post(ingress.url, event), events))
                figures.accept_seconds = time.monotonic() - started
                last_webhook = datetime.now(UTC)
                if any(answer != 200 for answer in answers):
                    raise RuntimeError(f"the ingress refused some: {set(answers)}")
                self.wait(engine, {"failed": failed, "deleted": deleted}, timeout)
            figures.worker_cpu_seconds = _cpu_seconds(worker)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        figures.flow_runs = {kind: len(self.flow_runs(name)) for kind, name in DEPLOYMENTS.items()}
        figures.messages, last_sent, figures.repeats = first_messages(engine)
        figures.last_webhook_to_last_message = (last_sent - last_webhook).total_seconds()
        return figures

    def post(self, url: str, event: dict) -> int:
        path, body, headers = signed_request("stripe", json.dumps(event).encode(), self.settings)
        return requests.post(url + path, data=body, headers=headers, timeout=30).status_code

    def wait(self, engine: Engine, expected: dict[str, int], timeout: float) -> None:
        """Until every member has their first message and no run of the burst is still going."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent, _, _ = first_messages(engine)
            done = all(sent.get(kind, 0) >= count for kind, count in expected.items())
            if done and not any(
                run["state_type"] in ("SCHEDULED", "PENDING", "RUNNING")
                for name in DEPLOYMENTS.values()
                for run in self.flow_runs(name)
            ):
                return
            time.sleep(2)
        raise RuntimeError(f"not done after {timeout:.0f} s: {first_messages(engine)[0]}")

    def flow_runs(self, deployment: str) -> list[dict]:
        return deployment_runs(self.api, deployment)


def deploy_prefect_yaml(env: dict[str, str]) -> None:
    """The work pool and every deployment of prefect.yaml, with their triggers, on the Prefect
    server `env` names (PREFECT_API_URL), as docs/operations.md deploys them."""
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run(
        [*prefect, "work-pool", "create", "memberflow", "--type", "process", "--overwrite"],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [*prefect, "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])


def deployment_runs(api: str, deployment: str) -> list[dict]:
    """Every flow run of `flow-name/deployment-name`, straight from the REST API."""
    flow_name, _, name = deployment.partition("/")
    found = httpx.get(f"{api}/deployments/name/{flow_name}/{name}", timeout=10)
    found.raise_for_status()
    query = {"deployments": {"id": {"any_": [found.json()["id"]]}}}
    runs = httpx.post(f"{api}/flow_runs/filter", json=query, timeout=10)
    runs.raise_for_status()
    return runs.json()


def first_messages(engine: Engine) -> tuple[dict[str, int], datetime, int]:
    """(how many first messages were sent, by kind; when the last went; how many members got
    more than one of a kind)."""
    sent, last, repeats = {}, datetime.min.replace(tzinfo=UTC), 0
    with engine.connect() as conn:
        for kind, (pipeline, step) in FIRST_MESSAGE.items():
            query = (
                select(Touchpoint.subscription_id, func.count(), func.max(Touchpoint.sent_at))
                .where(
                    Touchpoint.pipeline == pipeline,
                    Touchpoint.step == step,
                    Touchpoint.status == "sent",
                )
                .group_by(Touchpoint.subscription_id)
            )
            rows = list(conn.execute(query))
            sent[kind] = len(rows)
            repeats += sum(1 for _, count, _ in rows if count > 1)
            last = max([last, *(moment for _, _, moment in rows)])
    return sent, last, repeats


def _cpu_seconds(worker: subprocess.Popen) -> float:
    """The worker's CPU and its flow-run processes' (reaped children count in its own)."""
    times = psutil.Process(worker.pid).cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _prefect_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{api}/health", timeout=2).ok:
                return server, api
        except requests.ConnectionError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the Prefect server did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--failed", type=int, default=500)
    parser.add_argument("--deleted", type=int, default=500)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server, api = _prefect_server(Path(folder) / "prefect")
        os.environ["PREFECT_API_URL"] = api
        try:
            url = _memberflow_database(Path(folder), args.postgresql)
            burst = Burst(api, url, Path(folder) / "outbox")
            burst.deploy()
            result = burst.run(args.failed, args.deleted)
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(_table(result))


def _memberflow_database(folder: Path, postgresql: bool) -> str:
    if not postgresql:
        url = f"sqlite:///{folder / 'memberflow.db'}"
    else:
        import psycopg

        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as pg:
            pg.execute("DROP DATABASE IF EXISTS memberflow_burst WITH (FORCE)")
            pg.execute("CREATE DATABASE memberflow_burst")
        url = "postgresql+psycopg://postgres@127.0.0.1:5432/memberflow_burst"
    database.upgrade(url)
    return url


def _table(figures: Figures) -> str:
    rows = [
        ("webhooks (signed, 8 at a time)", f"{figures.webhooks}"),
        ("accepted by the ingress in", f"{figures.accept_seconds:.1f} s"),
        ("flow runs: on-payment-failed", f"{figures.flow_runs.get('failed', 0)}"),
        ("flow runs: on-subscription-canceled", f"{figures.flow_runs.get('deleted', 0)}"),
        ("first dunning notices sent", f"{figures.messages.get('failed', 0)}"),
        ("cancellation confirmations sent", f"{figures.messages.get('deleted', 0)}"),
        ("members with a repeat", f"{figures.repeats}"),
        ("last webhook to last message", f"{figures.last_webhook_to_last_message:.0f} s"),
        ("worker CPU (with its flow runs)", f"{figures.worker_cpu_seconds:.0f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>10}" for name, value in rows)


if __name__ == "__main__":
    main()
