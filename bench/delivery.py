"""Delivery against slow receivers: the reminder pipeline vs plain loops, in one run.

    python -m bench.delivery [--due 10000] [--latencies 0,50,200] [--concurrency 256]
                             [--batch-size 1000] [--smtp-due 2000] [--smtp-latency 100]

For each receiver latency (a webhook that answers after 0, 50, 200 ms, in a process of its
own), three ways to send the same renewal reminders, each in a child process:
- `plain`: select, render and POST one after the other (at high latency, a sample of them:
  a sequential loop at 200 ms would take half an hour);
- `pool`: the same with a plain thread pool of `--concurrency` threads;
- `pipeline`: the real flow under a Prefect test server, its WebhookOutput Block allowing
  `--concurrency` sends in flight.
Then the same against an SMTP relay that answers each message after `--smtp-latency` ms.
Printed: items, seconds, items/s, CPU ms per item (the sender's process only), and the ratios
the docs quote. Only ratios from the same run mean much on a shared machine.
"""

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.child import measure, report_result, settle
from bench.reminders import AS_OF, build_database, due_messages, run_plain, signed_post

BATCH_VARIABLE = "MEMBERFLOW_BENCH_BATCH"  # --batch-size, handed to the child processes
SAMPLE_SECONDS = 20  # a sequential loop sends for about this long at high latency


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_pool(database: Path, url: str, threads: int) -> dict:
    """Render in the main thread, POST from a thread pool: the plain way to hide latency."""
    from memberflow.messaging.http import make_session

    session, started = make_session(pool=threads), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(signed_post, session, url, m) for m in due_messages(database)]
        for future in futures:
            future.result()
    return {"items": len(futures), "seconds": time.perf_counter() - started}


def run_smtp_pool(database: Path, address: str, threads: int) -> dict:
    """Plain smtplib, one connection per thread, each message built as the SMTP output does."""
    import smtplib
    import threading

    from memberflow.messaging.mail import build_email

    host, port = address.split(":")
    local, started = threading.local(), time.perf_counter()

    def send(message) -> None:
        if not hasattr(local, "smtp"):
            local.smtp = smtplib.SMTP(host, int(port), timeout=30)
        local.smtp.send_message(build_email(message, "billing@example.com"))

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(send, m) for m in due_messages(database, "email")]
        for future in futures:
            future.result()
    return {"items": len(futures), "seconds": time.perf_counter() - started}


def warm_up(database: Path) -> None:
    import memberflow.messaging.delivery  # noqa: F401
    import memberflow.messaging.http  # noqa: F401
    import memberflow.messaging.mail  # noqa: F401

    next(iter(due_messages(database)), None)


def run_flow(database: Path, output) -> dict:
    import os

    os.environ["MEMBERFLOW_DATABASE_URL"] = f"sqlite:///{database}"
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.reminders import reminders

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        output.save("bench", overwrite=True)
        reference = f"{output.get_block_type_slug()}/bench"
        before, started = cpu_seconds(), time.perf_counter()
        batch = int(os.environ.get(BATCH_VARIABLE, "1000"))
        rows = reminders(as_of=AS_OF, output=reference, lookback_days=0, batch_size=batch)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - before
    return {"items": rows[-1]["sent"], "seconds": seconds, "cpu": cpu}


def child(kind: str, database: str, target: str, number: str) -> None:
    from bench.reminders import SECRET
    from blocks.outputs.smtp import SmtpOutput
    from blocks.outputs.webhook import WebhookOutput

    path, number = Path(database), int(number)
    warm_up(path)  # imports and first queries are not the sending: count neither side's
    before = cpu_seconds()
    if kind == "plain":
        result = run_plain(path, target, limit=number or None)
    elif kind == "pool":
        result = run_pool(path, target, number)
    elif kind == "pipeline":
        output = WebhookOutput(url=target, secret=SECRET, max_concurrency=number)
        result = run_flow(path, output)
    elif kind == "smtp-pool":
        result = run_smtp_pool(path, target, number)
    else:
        host, port = target.split(":")
        output = SmtpOutput(
            host=host,
            port=int(port),
            security="none",
            from_address="billing@example.com",
            max_concurrency=number,
        )
        result = run_flow(path, output)
    result.setdefault("cpu", cpu_seconds() - before)
    report_result(result)


# -- the conductor ---------------------------------------------------------------------------


class SlowRelay:
    """An SMTP relay on loopback that answers each message after `latency` seconds."""

    def __init__(self, latency: float):
        self.latency, self.messages = latency, 0

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.latency)
        self.messages += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--latencies", default="0,50,200")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1000, help="the pipeline's batches")
    parser.add_argument("--smtp-due", type=int, default=2_000)
    parser.add_argument("--smtp-latency", type=float, default=100)
    parser.add_argument("--smtp-concurrency", type=int, default=32)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "DB", "TARGET", "N"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    os.environ[BATCH_VARIABLE] = str(args.batch_size)  # the children inherit it

    from memberflow.ingress.serve import free_port

    work = Path(tempfile.mkdtemp(prefix="memberflow-bench-delivery-"))
    results = []
    try:
        template = work / "template.db"
        print(f"building {args.due:,} due reminders...", file=sys.stderr)
        build_database(template, total=args.due + args.due // 5, due=args.due)
        for latency in [float(ms) for ms in args.latencies.split(",")]:
            port = free_port()
            receiver = subprocess.Popen(
                [sys.executable, "-m", "bench.receiver", str(port), str(latency)]
            )
            time.sleep(0.5)
            url = f"http://127.0.0.1:{port}/hook"
            sample = int(SAMPLE_SECONDS / (latency / 1000)) if latency else 0
            runs = [("plain", sample), ("pool", args.concurrency), ("pipeline", args.concurrency)]
            try:
                for kind, number in runs:
                    # a file of its own: a run's leftover -wal beside a fresh copy corrupts it
                    database = work / f"{kind}-{latency:.0f}ms.db"
                    shutil.copy(template, database)
                    settle()
                    result = measure("bench.delivery", kind, str(database), url, str(number))
                    results.append({"run": kind, "latency": latency, **result})
                    print(f"  {latency:.0f} ms {kind}: {result}", file=sys.stderr)
            finally:
                receiver.terminate()
        results += smtp_runs(args, work)
        report(results, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def smtp_runs(args, work: Path) -> list[dict]:
    from tests.support.servers import smtp_server

    template = work / "smtp.db"
    build_database(template, total=args.smtp_due + args.smtp_due // 5, due=args.smtp_due)
    relay = SlowRelay(args.smtp_latency / 1000)
    controller = smtp_server(relay)
    target = f"127.0.0.1:{controller.port}"
    results = []
    try:
        for kind in ("smtp-pool", "smtp-pipeline"):
            database = work / f"{kind}.db"
            shutil.copy(template, database)
            settle()
            number = str(args.smtp_concurrency)
            result = measure("bench.delivery", kind, str(database), target, number)
            results.append({"run": kind, "latency": args.smtp_latency, **result})
            print(f"  smtp {kind}: {result}", file=sys.stderr)
    finally:
        controller.stop()
    return results


def report(results: list[dict], args) -> None:
    print(
        f"\n{'run':<15}{'latency':>9}{'items':>8}{'seconds':>9}{'items/s':>9}"
        f"{'CPU ms/item':>13}{'peak MB':>9}"
    )
    for r in results:
        print(
            f"{r['run']:<15}{r['latency']:>7.0f}ms{r['items']:>8,}{r['seconds']:>9.1f}"
            f"{r['items'] / r['seconds']:>9,.0f}{1000 * r['cpu'] / r['items']:>13.2f}"
            f"{r['peak_mb']:>9.0f}"
        )
    by = {(r["run"], r["latency"]): r for r in results}
    rate = {key: r["items"] / r["seconds"] for key, r in by.items()}
    pipeline = sorted(latency for run, latency in by if run == "pipeline")
    if pipeline:
        base = rate[("pipeline", pipeline[0])]
        for latency in pipeline[1:]:
            share = rate[("pipeline", latency)] / base
            print(f"pipeline at {latency:.0f} ms: {share:.0%} of its own {pipeline[0]:.0f} ms rate")
        plain, flow = by.get(("plain", pipeline[0])), by[("pipeline", pipeline[0])]
        if plain:
            ratio = (flow["cpu"] / flow["items"]) / (plain["cpu"] / plain["items"])
            print(f"CPU per message at {pipeline[0]:.0f} ms: pipeline / plain loop = {ratio:.2f}")
        for latency in pipeline:
            if ("pool", latency) in rate:
                ratio = rate[("pipeline", latency)] / rate[("pool", latency)]
                print(f"pipeline / thread pool at {latency:.0f} ms: {ratio:.2f}x the rate")


if __name__ == "__main__":
    main()
