"""The scale-out rehearsal of docs/scaling.md, measured: a Prefect server on PostgreSQL, a
process work pool, memberflow's database on PostgreSQL, and one day's reminders delivered by
one worker, then by two sharing the day, then by one worker whose run spreads its delivery over
Dask worker processes.

    python -m bench.scale_out [--due 10000] [--latency 50] [--concurrency 64]

Needs the machine's PostgreSQL (127.0.0.1:5432, trust auth): it creates and drops the
databases `memberflow_rehearsal` and `prefect_rehearsal`. Printed: per setup, the flow runs,
messages received (and distinct keys: each must arrive once), seconds, messages a second, and
the speed-up over one worker.
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from memberflow.core.settings import PROJECT_ROOT
from memberflow.ingress.serve import free_port

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
AS_OF = datetime(2026, 12, 1, 23, tzinfo=UTC)
RENEWAL = datetime(2026, 12, 8, 12, tzinfo=UTC)
BIN = Path(sys.executable).parent


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
        pg.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg.execute(f"CREATE DATABASE {name}")


def build_memberflow(due: int) -> str:
    from bench.population import build
    from memberflow.core import db as database

    url = f"{POSTGRES}/memberflow_rehearsal"
    recreate_database("memberflow_rehearsal")
    database.upgrade(url)
    engine = database.get_engine(url)
    build(engine, total=due + due // 5, due=due, renewal=RENEWAL)
    engine.dispose()
    return url


def wait_until_up(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


class Rehearsal:
    def __init__(self, args):
        self.args, self.processes = args, []
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",  # for the zombie-run automation
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }

    def start(self, command: list[str], **extra: str) -> subprocess.Popen:
        process = subprocess.Popen(
            command, env={**self.env, **extra}, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT
        )
        self.processes.append(process)
        return process

    def stop(self, processes) -> None:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

    def server(self) -> None:
        recreate_database("prefect_rehearsal")
        self.start(
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            PREFECT_API_DATABASE_CONNECTION_URL=(
                "postgresql+asyncpg://postgres@127.0.0.1:5432/prefect_rehearsal"
            ),
        )
        wait_until_up(f"{self.api}/health")
        os.environ["PREFECT_API_URL"] = self.api

    def receiver(self) -> tuple[subprocess.Popen, str]:
        """A fresh receiver (it counts distinct keys) and the output Block pointing at it."""
        from blocks.outputs.webhook import WebhookOutput

        port = free_port()
        process = self.start(
            [sys.executable, "-m", "bench.receiver", str(port), str(self.args.latency)]
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/stats")
        WebhookOutput(
            url=f"{url}/hook", secret="rehearsal", max_concurrency=self.args.concurrency
        ).save("rehearsal", overwrite=True)
        return process, url

    def deploy(self) -> None:
        from prefect import flow

        subprocess.run(
            [str(BIN / "prefect"), "work-pool", "create", "rehearsal", "--type", "process"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        source = flow.from_source(str(PROJECT_ROOT), "flows/reminders.py:reminders")
        source.deploy(name="rehearsal", work_pool_name="rehearsal", print_next_steps=False)

    def day(self, workers: int, runs: int, **extra: str) -> dict:
        """`runs` flow runs for the same day, on `workers` process workers; how it went."""
        from prefect.deployments import run_deployment

        database = build_memberflow(self.args.due)
        receiving, receiver = self.receiver()
        env = {"MEMBERFLOW_DATABASE_URL": database, **extra}
        pool = [
            self.start(
                [str(BIN / "prefect"), "worker", "start", "--pool", "rehearsal", "--limit", "1"],
                **env,
            )
            for _ in range(workers)
        ]
        time.sleep(3)  # the workers poll the pool
        parameters = {
            "as_of": AS_OF.isoformat(),
            "output": "memberflow-webhook-output/rehearsal",
            "lookback_days": 0,
            "batch_size": 1000,
        }
        started = time.monotonic()
        flow_runs = [
            run_deployment("billing-reminders/rehearsal", parameters=parameters, timeout=0)
            for _ in range(runs)
        ]
        finished = self.wait_for(flow_runs)
        seconds = time.monotonic() - started
        self.stop(pool)
        stats = requests.get(f"{receiver}/stats", timeout=5).json()
        self.stop([receiving])
        # the runs' own span (first start to last end): the work, without the workers' polling
        # and the flow-run processes' start-up
        span = max(r.end_time for r in finished) - min(r.start_time for r in finished)
        return {
            "states": [r.state.type.value for r in finished],
            "received": stats["requests"],
            "keys": stats["unique_keys"],
            "seconds": seconds,
            "span": span.total_seconds(),
        }

    def wait_for(self, flow_runs, seconds: float = 900) -> list:
        from prefect import get_client

        deadline = time.monotonic() + seconds
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                found = [client.read_flow_run(run.id) for run in flow_runs]
                if all(run.state and run.state.is_final() for run in found):
                    return found
                time.sleep(1)
        raise RuntimeError("the flow runs did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--setups", default="1,2,dask", help="which of: 1, 2 workers, dask")
    args = parser.parse_args()
    rehearsal = Rehearsal(args)
    try:
        print("Prefect server on PostgreSQL...", file=sys.stderr)
        rehearsal.server()
        rehearsal.deploy()
        setups = [
            ("1 worker", {"workers": 1, "runs": 1}),
            ("2 workers", {"workers": 2, "runs": 2}),
            (
                "1 worker, Dask x2",
                {
                    "workers": 1,
                    "runs": 1,
                    "MEMBERFLOW_DELIVERY_PARTITIONS": "2",
                    "MEMBERFLOW_TASK_RUNNER": "dask",
                },
            ),
        ]
        chosen = dict(zip(["1", "2", "dask"], setups, strict=True))
        setups = [chosen[key] for key in args.setups.split(",")]
        results = []
        for name, setup in setups:
            print(f"{name}...", file=sys.stderr)
            results.append((name, rehearsal.day(**setup)))
        report(results, args)
    finally:
        rehearsal.stop(reversed(rehearsal.processes))


def report(results, args) -> None:
    print(
        f"\n{args.due:,} reminders due, a receiver answering in {args.latency:.0f} ms, "
        f"{args.concurrency} sends in flight per run; 'runs s' is the flow runs' own span"
    )
    print(
        f"{'setup':<20}{'runs':>22}{'received':>10}{'keys':>8}{'wall s':>8}{'runs s':>8}"
        f"{'msg/s':>7}{'speed-up':>10}"
    )
    base = None
    for name, r in results:
        rate = r["keys"] / r["span"]
        base = base or rate
        runs = ",".join(state.lower() for state in r["states"])
        print(
            f"{name:<20}{runs:>22}{r['received']:>10,}{r['keys']:>8,}{r['seconds']:>8.1f}"
            f"{r['span']:>8.1f}{rate:>7.0f}{rate / base:>9.2f}x"
        )


if __name__ == "__main__":
    main()
