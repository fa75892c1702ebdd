"""Dunning: one run advancing 20,000 open cases vs a plain-Python loop doing the same policy
decisions, sandbox gateway calls and durable writes, in one run.

    python -m bench.dunning [--cases 20000]

The cases failed at 2026-12-01 00:00 UTC in five time zones, and the day-0 run (first
notices) is done before measuring. The measured run is day 1 after every zone's 10:00, when
each soft decline is retried; then an hourly run with nothing due. Each measurement runs in a
child process of its own, on its own copy of the database.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.child import measure, report_result, settle

FAILED = datetime(2026, 12, 1, 0, tzinfo=UTC)
DAY0 = FAILED + timedelta(hours=1)
DAY1 = datetime(2026, 12, 2, 20, tzinfo=UTC)  # past 10:00 of day 1 in every zone
IDLE = DAY1 + timedelta(hours=1)
# what the members' cards do: most soft (retried), some needing a new card, a few stolen
CARDS = ["9995"] * 8 + ["0002"] * 4 + ["4242"] * 2 + ["0069"] * 5 + ["9979"]


def build_database(path: Path, cases: int) -> None:
    from sqlalchemy import insert, update
    from sqlmodel import SQLModel

    import memberflow.core.models  # noqa: F401
    from bench.population import build
    from memberflow.core.db import get_engine
    from memberflow.core.models import Invoice
    from memberflow.messaging.store import subscription
    from memberflow.pipelines.dunning import queries as dunning_cases
    from memberflow.pipelines.dunning.policy import DunningPolicy

    engine = get_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    build(engine, total=cases, due=0, renewal=FAILED + timedelta(days=30))
    with engine.begin() as conn:
        for n, card in enumerate(CARDS):
            conn.execute(
                update(subscription)
                .where((subscription.c.id % len(CARDS)) == n)
                .values(status="past_due", card_last4=card, card_exp_month=12, card_exp_year=2030)
            )
        conn.execute(
            insert(Invoice),
            [
                {
                    "external_id": f"in_{n}",
                    "subscription_id": n,
                    "amount_minor": 1900,
                    "currency": "USD",
                    "status": "open",
                    "attempt_count": 1,
                    "decline_code": "insufficient_funds" if n % 20 < 14 else "expired_card",
                    "provider_updated_at": FAILED,
                }
                for n in range(1, cases + 1)
            ],
        )
    policy = DunningPolicy()
    dunning_cases.open_cases(engine, as_of=DAY0, policy=policy)
    engine.dispose()


# -- the measured runs (each in a child process) ---------------------------------------------


def run_plain(database: Path) -> dict:
    """One query for the open cases, the policy's functions, the sandbox, sqlite3 writes with
    the same exactly-once protocol (attempt committed before the call, result after), and the
    same follow-up: the notice planned in the outbox and the case's next retry, in the
    transaction of the answer (or their own when nothing was retried)."""
    import json
    import sqlite3

    from blocks.gateways.sandbox import SandboxGateway
    from memberflow.core.charges import ChargeRequest
    from memberflow.core.dunning_models import CaseStatus
    from memberflow.core.schedule import zone
    from memberflow.messaging.outbox import touchpoint_key
    from memberflow.pipelines.dunning import policy as rules
    from memberflow.pipelines.dunning.policy import CaseFacts, Category, DunningPolicy

    gateway, policy = SandboxGateway(), DunningPolicy()
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    started, advanced, retries = time.perf_counter(), 0, 0
    rows = db.execute(
        "SELECT c.id, c.opened_at, c.category, c.status, c.retries, c.last_retry_at, c.card,"
        " c.notices, c.escalated_at, i.external_id, i.amount_minor, i.currency,"
        " s.card_last4, s.card_exp_month, s.card_exp_year, m.time_zone, m.external_id,"
        " c.invoice_id, c.subscription_id, c.next_retry_at"
        " FROM dunning_case c JOIN invoice i ON i.id = c.invoice_id"
        " JOIN subscription s ON s.id = c.subscription_id JOIN member m ON m.id = s.member_id"
        " WHERE c.status IN ('open', 'paused') ORDER BY c.id"
    ).fetchall()
    month_ago = (DAY1 - timedelta(days=30)).isoformat(" ")
    charged = dict(
        db.execute(
            "SELECT card, count(*) FROM charge_attempt WHERE attempted_at > ?"
            " AND status != 'error' GROUP BY card",
            (month_ago,),
        ).fetchall()
    )

    def follow_up(facts, case_id, invoice, invoice_id, sub_id, opened_at, tz, next_at) -> None:
        """The flow's `_follow_up` for what the benchmark meets: a notice, the next retry."""
        final = rules.final_action_due(facts, policy, DAY1)
        notice = None if final else rules.notice_due(facts, policy, DAY1)
        next_retry = None if final else rules.next_retry(facts, policy, DAY1)
        next_iso = next_retry.isoformat(" ") if next_retry else None
        if final or (notice is None and next_iso == next_at):
            return
        notices = ",".join(sorted(facts.notices | {notice.step})) if notice else None
        if notice is not None:
            key = touchpoint_key("dunning", notice.step, invoice, opened_at.date(), "email")
            context = {"category": facts.category.value, "retries": facts.retries}
            db.execute(
                "INSERT INTO touchpoint (key, pipeline, step, channel, subscription_id, anchor_at,"
                " due_at, status, attempts, created_at, invoice_id, context)"
                " VALUES (?, 'dunning', ?, 'email', ?, ?, ?, 'pending', 0, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (
                    key,
                    notice.step,
                    sub_id,
                    opened_at.isoformat(" "),
                    notice.due_at.isoformat(" "),
                    DAY1.isoformat(" "),
                    invoice_id,
                    json.dumps(context),
                ),
            )
        db.execute(
            "UPDATE dunning_case SET next_retry_at = ?, notices = coalesce(?, notices)"
            " WHERE id = ?",
            (next_iso, notices, case_id),
        )

    for row in rows:
        (case_id, opened, category, status, tries, last, card, notices, escalated) = row[:9]
        invoice, amount, currency, last4, month, year, tz, member = row[9:17]
        invoice_id, sub_id, next_at = row[17:]
        opened_at = datetime.fromisoformat(opened).replace(tzinfo=UTC)
        current = rules.card_identity(member, last4, month, year)
        facts = CaseFacts(
            opened_at=opened_at,
            time_zone=zone(tz),
            category=Category(category),
            status=CaseStatus(status),
            retries=tries,
            last_retry_at=datetime.fromisoformat(last).replace(tzinfo=UTC) if last else None,
            card_changed=current is not None and current != card,
            card_attempts_30d=charged.get(current, 0),
            notices=frozenset(filter(None, notices.split(","))),
            escalated=escalated is not None,
            value_minor=0,
        )
        advanced += 1
        where = (case_id, invoice, invoice_id, sub_id, opened_at, tz, next_at)
        if rules.retry_due(facts, policy, DAY1) is None:
            db.execute("BEGIN")
            follow_up(facts, *where)
            db.execute("COMMIT")
            continue
        key = f"dunning:{invoice}:charge:{tries + 1}"
        db.execute(
            "INSERT INTO charge_attempt (key, case_id, number, reason, card, attempted_at, status)"
            " VALUES (?, ?, ?, 'schedule', ?, ?, 'pending')",
            (key, case_id, tries + 1, current, DAY1.isoformat()),
        )
        result = gateway.retry_charge(
            ChargeRequest(key, invoice, "", "", amount, currency, last4, opened_at, DAY1)
        )
        retries += 1
        db.execute("BEGIN")
        db.execute(
            "UPDATE charge_attempt SET status = ?, decline_code = ? WHERE key = ?",
            ("succeeded" if result.paid else "declined", result.decline_code, key),
        )
        if result.paid:
            db.execute(
                "UPDATE dunning_case SET status = 'closed', outcome = 'recovered' WHERE id = ?",
                (case_id,),
            )
        else:
            category = rules.categorize(result.decline_code)
            db.execute(
                "UPDATE dunning_case SET retries = ?, last_retry_at = ?, category = ? WHERE id = ?",
                (tries + 1, DAY1.isoformat(), category, case_id),
            )
            charged[current] = charged.get(current, 0) + 1
            retried = replace(
                facts,
                retries=tries + 1,
                last_retry_at=DAY1,
                category=Category(category),
                card_attempts_30d=charged[current],
            )
            follow_up(retried, *where)
        db.execute("COMMIT")
    return {"cases": advanced, "retries": retries, "seconds": time.perf_counter() - started}


def advancing_seconds(flow_run_id) -> float:
    """How long the run's `advance_cases` task runs took: advancing, without delivering."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200
        )
    return sum(run.total_run_time.total_seconds() for run in runs if "advance" in run.name)


def run_pipeline(database: Path) -> dict:
    """The real flow under a Prefect test server: the day-1 run, then an idle hourly run."""
    os.environ["MEMBERFLOW_DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["MEMBERFLOW_OUTBOX_DIR"] = str(database.parent / f"outbox-{database.stem}")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.dunning import dunning

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        dunning(as_of=DAY0)  # day 0: first notices (not measured)
        started = time.perf_counter()
        state = dunning(as_of=DAY1, return_state=True)
        seconds = time.perf_counter() - started
        summary = state.result()
        advancing = advancing_seconds(state.state_details.flow_run_id)
        started = time.perf_counter()
        idle = dunning(as_of=IDLE)
        idle_seconds = time.perf_counter() - started
    return {
        "cases": summary["advanced"],
        "retries": summary["retries"],
        "recovered": summary["recovered"],
        "seconds": seconds,
        "advancing_seconds": advancing,
        "idle_cases": idle["advanced"],
        "idle_seconds": idle_seconds,
    }


def child(kind: str, database: str) -> None:
    result = {"plain": run_plain, "pipeline": run_pipeline}[kind](Path(database))
    report_result(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "DB"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="memberflow-bench-dunning-"))
    try:
        template = work / "cases.db"
        print(f"building {args.cases:,} open cases...", file=sys.stderr)
        build_database(template, args.cases)
        settle()
        results = {}
        for kind in ("plain", "pipeline"):
            database = work / f"{kind}.db"
            shutil.copy(template, database)
            results[kind] = measure("bench.dunning", kind, str(database))
            print(f"  {kind}: {results[kind]}", file=sys.stderr)
        report(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict) -> None:
    plain = results["plain"]
    print(
        f"\n{'run':<16}{'cases':>8}{'retries':>9}{'seconds':>9}{'cases/s':>9}"
        f"{'ratio':>7}{'peak MB':>9}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<16}{r['cases']:>8,}{r['retries']:>9,}{r['seconds']:>9.2f}"
            f"{r['cases'] / r['seconds']:>9,.0f}{r['seconds'] / plain['seconds']:>7.2f}"
            f"{r['peak_mb']:>9.0f}"
        )
    p = results["pipeline"]
    print(
        f"{'  its advancing':<16}{p['cases']:>8,}{p['retries']:>9,}{p['advancing_seconds']:>9.2f}"
        f"{p['cases'] / p['advancing_seconds']:>9,.0f}"
        f"{p['advancing_seconds'] / plain['seconds']:>7.2f}"
    )
    print(
        f"{'pipeline, idle':<16}{p['idle_cases']:>8,}{0:>9,}{p['idle_seconds']:>9.2f}"
        f"{p['idle_cases'] / p['idle_seconds']:>9,.0f}"
    )


if __name__ == "__main__":
    main()
