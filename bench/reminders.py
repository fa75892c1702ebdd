"""Billing reminders end to end vs a plain-Python loop doing the same work, in one run.

    python -m bench.reminders [--due 100000] [--population 1000000]

Each measurement runs in a child process of its own, so its peak memory is its own; the HTTP
receiver runs in another. Printed: items, seconds, items per second, ratio, peak memory.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.child import measure, report_result, settle

RENEWAL = datetime(2026, 12, 8, 12, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, 23, tzinfo=UTC)  # every zone's 09:00 on Dec 1 has passed
SECRET = "bench-secret"


def build_database(path: Path, total: int, due: int) -> None:
    from sqlmodel import SQLModel

    import memberflow.core.models  # noqa: F401
    from bench.population import build
    from memberflow.core.db import get_engine

    engine = get_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    build(engine, total=total, due=due, renewal=RENEWAL)
    engine.dispose()


# -- the measured runs (each in a child process) ---------------------------------------------


def due_messages(database: Path, channel: str = "webhook"):
    """Every renewal reminder due at AS_OF, selected and rendered as the engine would: the
    work a plain loop does before it sends (no Prefect, no outbox)."""
    from memberflow.core.db import get_engine
    from memberflow.core.links import link_secret, member_link
    from memberflow.core.schedule import Timing, timing, zone
    from memberflow.core.settings import Settings
    from memberflow.messaging import store
    from memberflow.messaging.composing import compose, message_fields
    from memberflow.messaging.protocols import PlanningWindow, TouchpointRow
    from memberflow.messaging.rendering import Renderer
    from memberflow.pipelines.reminders.pipeline import ReminderPipeline
    from memberflow.pipelines.reminders.steps import DEFAULT_STEPS, anchor_for

    settings, pipeline, step = Settings(), ReminderPipeline(), DEFAULT_STEPS[0]
    renderer = Renderer(settings.templates_dir)
    engine = get_engine(f"sqlite:///{database}")
    selection = pipeline.selections(PlanningWindow(AS_OF, AS_OF))[0][1]
    with engine.connect() as conn:
        secret = link_secret(conn, settings)
        conn.commit()  # a secret made on first use: no write held open while the loop reads

        def link(member_external_id: str, purpose: str, data: dict | None = None) -> str:
            return member_link(secret, settings, member_external_id, purpose, AS_OF, data)

        rows = conn.execute(
            store._subscription_view().where(
                store.subscription.c.current_period_end.between(selection.low, selection.high)
            )
        )
        for row in rows:
            anchor = anchor_for(step, row)
            if anchor is None:
                continue
            due = step.due(anchor, zone(row.time_zone))
            if timing(due, AS_OF, step.lateness) is not Timing.due:  # the same rule as the engine
                continue
            key = f"reminders:{step.name}:{row.sub_external_id}:{anchor.date()}:{channel}"
            view = TouchpointRow.from_mapping(
                {
                    **row._mapping,
                    "touchpoint_id": 0,
                    "key": key,
                    "step": step.name,
                    "anchor_at": anchor,
                    "due_at": due,
                    "attempts": 0,
                }
            )
            fields = message_fields(pipeline, step, view, settings, link)  # the cancel link too
            yield compose(pipeline, step, view, fields, renderer)


def signed_post(session, url: str, message) -> None:
    from blocks.outputs.http import HttpOutput
    from memberflow.core.signing import sign
    from memberflow.messaging.http import post_json

    body = HttpOutput.body(message)
    post_json(session, url, body, {"Idempotency-Key": message.key, **sign(SECRET, body)})


def run_plain(database: Path, url: str, limit: int | None = None) -> dict:
    """Select, render, POST with one session, one after the other."""
    from memberflow.messaging.http import make_session

    session, started, sent = make_session(), time.perf_counter(), 0
    for message in due_messages(database):
        signed_post(session, url, message)
        sent += 1
        if sent == limit:
            break
    return {"items": sent, "seconds": time.perf_counter() - started}


def run_pipeline(database: Path, url: str, concurrency: int | None = None) -> dict:
    """The real flow, under a Prefect test server, delivering through a WebhookOutput block."""
    os.environ["MEMBERFLOW_DATABASE_URL"] = f"sqlite:///{database}"
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from blocks.outputs.webhook import WebhookOutput
    from flows.reminders import reminders

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        WebhookOutput(url=url, secret=SECRET, max_concurrency=concurrency).save(
            "bench", overwrite=True
        )
        started = time.perf_counter()
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/bench", lookback_days=0)
        seconds = time.perf_counter() - started
    return {"items": rows[-1]["sent"], "seconds": seconds}


def run_selection(database: Path) -> dict:
    """Candidate rows out of the population for `renewal_7d`: the flow's own window (due now, plus
    its 48 h lateness lookback), and due now only; each in batches of 500 and as one query."""
    from memberflow.core.db import get_engine
    from memberflow.messaging import store
    from memberflow.messaging.protocols import PlanningWindow
    from memberflow.pipelines.reminders.pipeline import ReminderPipeline
    from memberflow.pipelines.reminders.steps import DEFAULT_STEPS, selection_for

    engine = get_engine(f"sqlite:///{database}")
    flow_window = ReminderPipeline().selections(PlanningWindow(AS_OF, AS_OF))[0][1]
    due_now_step = DEFAULT_STEPS[0].model_copy(update={"lateness_hours": 0})
    due_now = selection_for(due_now_step, PlanningWindow(AS_OF, AS_OF))
    results = {}
    with engine.connect() as conn:
        for name, selection in (("flow window", flow_window), ("due now", due_now)):
            started, rows, cursor = time.perf_counter(), 0, selection.start
            while cursor is not None:
                batch = store.select_candidates(conn, selection, cursor, 500)
                rows += len(batch)
                last = batch[-1] if len(batch) == 500 else None
                cursor = (getattr(last, store.SELECTED), last.sub_id) if last else None
            paged = time.perf_counter() - started
            started = time.perf_counter()
            everything = store.select_candidates(conn, selection, selection.start, 10**9)
            results[name] = {
                "rows": rows,
                "hours": (selection.high - selection.low).total_seconds() / 3600,
                "batched_seconds": paged,
                "one_query_seconds": time.perf_counter() - started,
            }
            assert len(everything) == rows
    return {"windows": results}


def child(kind: str, database: str, url: str) -> None:
    runner = {"plain": run_plain, "pipeline": run_pipeline, "selection": run_selection}[kind]
    result = runner(Path(database), url) if kind != "selection" else runner(Path(database))
    report_result(result)


# -- the conductor ---------------------------------------------------------------------------


def receiver_stats(url: str) -> dict:
    import requests

    return requests.get(url, timeout=5).json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DB", "URL"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from bench.receiver import __file__ as _  # noqa: F401  (fail early if missing)
    from tests.support.servers import free_port

    work = Path(tempfile.mkdtemp(prefix="memberflow-bench-"))
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(0.5)
        results = []
        for due in sorted({args.due // 4, args.due}):
            template = work / f"due{due}.db"
            print(f"building {due:,} due of {due + due // 5:,} subscriptions...", file=sys.stderr)
            build_database(template, total=due + due // 5, due=due)
            settle()
            for kind in ("plain", "pipeline"):
                database = work / f"{kind}{due}.db"
                shutil.copy(template, database)
                before = receiver_stats(url)
                result = measure("bench.reminders", kind, str(database), f"{url}/hook")
                after = receiver_stats(url)
                result["posted"] = after["requests"] - before["requests"]
                results.append({"run": kind, "due": due, **result})
                print(f"  {kind}: {result}", file=sys.stderr)
        population = work / "population.db"
        print(f"building {args.population:,} subscriptions...", file=sys.stderr)
        build_database(population, total=args.population, due=args.population * 33 // 1000)
        settle()
        selection = measure("bench.reminders", "selection", str(population), "")
        report(results, selection, args.population)
    finally:
        receiver.terminate()
        shutil.rmtree(work, ignore_errors=True)


def report(results: list[dict], selection: dict, population: int) -> None:
    plain = {r["due"]: r for r in results if r["run"] == "plain"}
    print(
        f"\n{'run':<10}{'items':>10}{'posted':>10}{'seconds':>10}{'items/s':>10}"
        f"{'ratio':>8}{'peak MB':>10}"
    )
    for r in results:
        ratio = r["seconds"] / plain[r["due"]]["seconds"]
        print(
            f"{r['run']:<10}{r['items']:>10,}{r['posted']:>10,}{r['seconds']:>10.1f}"
            f"{r['items'] / r['seconds']:>10,.0f}{ratio:>8.2f}{r['peak_mb']:>10.0f}"
        )
    print(
        f"\nselection out of {population:,} subscriptions"
        f" (SQLite, peak {selection['peak_mb']:.0f} MB):"
    )
    print(f"{'window':<13}{'hours':>7}{'rows':>10}{'batches of 500':>16}{'one query':>11}")
    for name, w in selection["windows"].items():
        print(
            f"{name:<13}{w['hours']:>7.0f}{w['rows']:>10,}{w['batched_seconds']:>15.2f}s"
            f"{w['one_query_seconds']:>10.2f}s"
        )


if __name__ == "__main__":
    main()
