"""The retention report over a big history: 1,000,000 subscriptions with a year of it (about
360,000 cancellations, 480,000 failed payments and their dunning cases, 1,000,000 messages),
on SQLite and on PostgreSQL, beside a plain-Python loop computing the churn table from the
same rows in the same run.

    python -m bench.report [--subscriptions 1000000] [--postgres URL]

PostgreSQL is measured when --postgres (or MEMBERFLOW_TEST_DATABASE_URL) names a database: its
memberflow tables are dropped and rebuilt there. The goal: the whole report (this period and
the one before, every table) in under 10 s on each.
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select, text

from memberflow.messaging import experiments

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
CHUNK = 50_000
# every renewal reminder of the year in an experiment: 5% held out, a shorter subject for half
EXPERIMENT = experiments.ExperimentPlan(
    name="bench-renewal",
    pipeline="reminders",
    step="renewal_7d",
    holdout=0.05,
    variants=[{"name": "short", "share": 0.475}],
)
PRODUCTS = [
    ("club-monthly", "month", 1900, "USD"),
    ("club-annual", "year", 19000, "USD"),
    ("club-euro", "month", 1500, "EUR"),
]


def build(engine: Engine, total: int) -> dict[str, int]:
    """The history, bulk-inserted; deterministic (ids drive every choice)."""
    from sqlmodel import SQLModel

    from memberflow.core.dunning_models import DunningCase
    from memberflow.core.models import (
        Cancellation,
        Invoice,
        Member,
        Product,
        Subscription,
        Touchpoint,
    )

    tables = ", ".join(t.name for t in reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"DROP TABLE IF EXISTS {tables}, alembic_version CASCADE"))
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        experiments.start(conn, EXPERIMENT, AS_OF - YEAR)
        conn.execute(
            insert(Product),
            [
                {"id": n + 1, "external_id": name, "name": name}
                for n, (name, *_) in enumerate(PRODUCTS)
            ],
        )
    counts = defaultdict(int)
    case_id = 0
    for start in range(1, total + 1, CHUNK):
        ids = range(start, min(start + CHUNK, total + 1))
        members, subscriptions, cancellations, invoices, cases, messages = [], [], [], [], [], []
        for n in ids:
            product = n % 3
            _, interval, amount, currency = PRODUCTS[product]
            started = AS_OF - timedelta(days=30 + (n * 7919) % 700)
            members.append({"id": n, "external_id": f"m{n}", "email": f"m{n}@example.com"})
            subscriptions.append(
                {
                    "id": n,
                    "external_id": f"s{n}",
                    "member_id": n,
                    "product_id": product + 1,
                    "status": "active",
                    "amount_minor": amount,
                    "currency": currency,
                    "interval": interval,
                    "current_period_end": AS_OF + timedelta(days=n % 30),
                    "started_at": started,
                    "created_at": started,
                }
            )
            day = timedelta(days=(n * 104729) % 365, hours=n % 24)
            if n % 100 < 36:  # 36% left during the year; a fifth of them came back
                end = AS_OF - YEAR + day
                cancellations.append(
                    {
                        "key": f"{n}:{end:%Y%m%d}",
                        "subscription_id": n,
                        "member_id": n,
                        "canceled_at": end,
                        "access_end": end,
                        "involuntary": n % 10 < 3,
                        "recorded_at": end,
                        "returned_at": end + timedelta(days=20) if n % 5 == 0 else None,
                    }
                )
            if 40 <= n % 100 < 88:  # 48% had a failed payment; 60% of those were recovered
                case_id += 1
                opened = AS_OF - YEAR + day
                recovered = case_id % 5 < 3
                invoices.append(
                    {
                        "id": case_id,
                        "external_id": f"in_{n}",
                        "subscription_id": n,
                        "amount_minor": amount,
                        "currency": currency,
                        "status": "paid" if recovered else "open",
                    }
                )
                cases.append(
                    {
                        "id": case_id,
                        "invoice_id": case_id,
                        "subscription_id": n,
                        "status": "closed",
                        "category": ("soft", "needs_member", "hard")[n % 3],
                        "opened_at": opened,
                        "closed_at": opened + timedelta(days=1 + n % 9),
                        "outcome": "recovered" if recovered else "canceled",
                        "recovered_by": f"retry_{1 + n % 3}" if recovered else None,
                        "recovered_minor": amount if recovered else 0,
                    }
                )
            due = AS_OF - YEAR + day
            variant = EXPERIMENT.assign(f"m{n}")
            messages.append(
                {
                    "key": f"reminders:renewal_7d:s{n}:{due:%Y-%m-%d}:email",
                    "pipeline": "reminders",
                    "step": "renewal_7d",
                    "channel": "email",
                    "subscription_id": n,
                    "anchor_at": due,
                    "due_at": due,
                    "status": "skipped" if variant == "holdout" else "sent" if n % 50 else "dead",
                    "created_at": due,
                    "sent_at": due if n % 50 and variant != "holdout" else None,
                    "experiment": EXPERIMENT.name,
                    "variant": variant,
                }
            )
        with engine.begin() as conn:
            for model, rows in (
                (Member, members),
                (Subscription, subscriptions),
                (Cancellation, cancellations),
                (Invoice, invoices),
                (DunningCase, cases),
                (Touchpoint, messages),
            ):
                if rows:
                    conn.execute(insert(model), rows)
                    counts[model.__tablename__] += len(rows)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return dict(counts)


def plain_churn(engine: Engine, start: datetime, end: datetime) -> dict:
    """The churn table's counts (memberships at the start, churned by kind, per currency) from
    the rows, in a Python loop: the same definitions (docs/metrics.md), row by row."""
    from memberflow.core.models import Cancellation, Subscription

    subs, gone = Subscription.__table__, Cancellation.__table__
    with engine.connect() as conn:
        left = defaultdict(list)
        for sub, access_end, returned, involuntary in conn.execute(
            select(
                gone.c.subscription_id, gone.c.access_end, gone.c.returned_at, gone.c.involuntary
            )
        ):
            left[sub].append((access_end, returned, involuntary))
        totals = defaultdict(lambda: [0, 0, 0])
        for sub, currency, started in conn.execute(
            select(subs.c.id, subs.c.currency, subs.c.started_at)
        ):
            history = left.get(sub, ())
            if started > start or any(
                e <= start and (r is None or r > start) for e, r, _ in history
            ):
                continue
            row = totals[currency]
            row[0] += 1
            for e, _, involuntary in sorted(history):  # its first leaving in the period
                if start < e <= end:
                    row[2 if involuntary else 1] += 1
                    break
    return dict(totals)


def measure(engine: Engine) -> dict:
    from memberflow.analytics import churn
    from memberflow.analytics.experiments import results as experiment_results
    from memberflow.analytics.period import Period
    from memberflow.analytics.report import build as build_report

    period = Period.ending(AS_OF, 30)
    started = time.perf_counter()
    report = build_report(engine, period)
    whole = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect() as conn:
        churned = churn.churn(conn, period)
    sql_churn = time.perf_counter() - started
    started = time.perf_counter()
    plain = plain_churn(engine, period.start, period.end)
    plain_seconds = time.perf_counter() - started
    for row in churned:  # the same answer both ways
        if row["product"] == "all":
            counts = plain[row["currency"]]
            found = [row["members_at_start"], row["churned_voluntary"], row["churned_involuntary"]]
            assert found == counts, (row["currency"], found, counts)
    started = time.perf_counter()
    with engine.connect() as conn:
        variants = experiment_results(conn, period, EXPERIMENT.name)
    experiment_seconds = time.perf_counter() - started
    assert [row["variant"] for row in variants] == ["holdout", "short", "control"]
    overall = {row["currency"]: row for row in report.churn if row["product"] == "all"}
    return {
        "experiment_s": experiment_seconds,
        "experiment_messages": sum(row["messages"] for row in variants),
        "report_s": whole,
        "churn_sql_s": sql_churn,
        "churn_plain_s": plain_seconds,
        "usd_churn": overall["USD"]["churn_rate"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("MEMBERFLOW_TEST_DATABASE_URL"))
    args = parser.parse_args()
    from memberflow.core.db import get_engine

    targets = [("SQLite", f"sqlite:///{Path(tempfile.mkdtemp()) / 'report.db'}")]
    if args.postgres:
        targets.append(("PostgreSQL", args.postgres))
    rows = []
    for name, url in targets:
        engine = get_engine(url)
        started = time.perf_counter()
        counts = build(engine, args.subscriptions)
        built = time.perf_counter() - started
        result = measure(engine)
        rows.append((name, sum(counts.values()), built, result))
    print(f"\nretention report over {args.subscriptions:,} subscriptions and a year of history\n")
    print(
        f"{'database':<11} {'rows':>10} {'built s':>8} {'report s':>9} {'churn SQL s':>12} "
        f"{'churn plain loop s':>19} {'plain / SQL':>11}"
    )
    for name, total, built, r in rows:
        ratio = r["churn_plain_s"] / r["churn_sql_s"]
        print(
            f"{name:<11} {total:>10,} {built:>8.1f} {r['report_s']:>9.2f} "
            f"{r['churn_sql_s']:>12.2f} {r['churn_plain_s']:>19.2f} {ratio:>11.2f}"
        )
    print("\nreport: this period and the one before, every table; goal: under 10 s")
    for name, _, _, r in rows:
        print(
            f"{name}: experiment results over {r['experiment_messages']:,} messages "
            f"(3 variants, goal: renewed) in {r['experiment_s']:.2f} s (part of the report)"
        )


if __name__ == "__main__":
    main()
