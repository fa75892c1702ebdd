"""`memberflow sync stripe` over a large business, against a fake Stripe that answers pages
instantly (ours, in Stripe's wire format: the list endpoints for customers, with their default
card expanded, subscriptions and products; generated on the fly, so the fake holds nothing).
Measured: the time per 1,000 objects of the sync against a plain loop over the same pages (the
official library's auto-pagination, each object written with one plain upsert), and the sync's
peak memory at each size: flat when the pages stream.

    python -m bench.sync [--customers 2000,20000,100000]

Each size runs in a fresh process (peak RSS is per process), on a new SQLite database.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PERIOD_END = 1_800_000_000


def customer(n: int) -> dict:
    return {
        "id": f"cus_{n:07d}",
        "object": "customer",
        "email": f"member{n}@example.com",
        "name": f"Member {n}",
        "default_source": None,
        "invoice_settings": {
            "default_payment_method": {
                "id": f"pm_{n:07d}",
                "object": "payment_method",
                "type": "card",
                "customer": f"cus_{n:07d}",
                "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2030},
            }
        },
    }


def subscription(n: int) -> dict:
    price = {
        "id": "price_gold",
        "object": "price",
        "product": "prod_gold",
        "unit_amount": 1900,
        "currency": "usd",
        "recurring": {"interval": "month"},
    }
    return {
        "id": f"sub_{n:07d}",
        "object": "subscription",
        "customer": f"cus_{n:07d}",
        "status": "active",
        "items": {"object": "list", "data": [{"id": f"si_{n:07d}", "price": price}]},
        "current_period_end": PERIOD_END,
        "start_date": PERIOD_END - 86400 * 40,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
    }


class FakeStripe:
    """The two list endpoints a sync reads, for `total` customers, each page made on demand."""

    def __init__(self, total: int):
        makers = {
            "/v1/customers": (customer, total),
            "/v1/subscriptions": (subscription, total),
            "/v1/products": (lambda n: {"id": "prod_gold", "object": "product", "name": "Gold"}, 1),
        }

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                make, count = makers[url.path]
                limit = int(query.get("limit", ["10"])[0])
                after = query.get("starting_after", [None])[0]
                start = int(after.split("_")[1]) + 1 if after else 0
                page = [make(n) for n in range(start, min(start + limit, count))]
                body = json.dumps(
                    {"object": "list", "url": url.path, "has_more": start + limit < count}
                    | {"data": page}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def one_size(total: int) -> dict:
    """In this process: the plain loop, then the sync, over the same fake business."""
    from sqlalchemy import insert, select

    from memberflow.core import db as database
    from memberflow.core.models import Member
    from memberflow.sync import stripe as stripe_sync

    fake = FakeStripe(total)
    # unpaced: this measures memberflow's work per object; against Stripe live, the pace adds
    # one second per 80 requests (3 requests per 100 customers)
    client = stripe_sync.client("sk_test_bench", fake.url, per_second=100_000)
    folder = Path(tempfile.mkdtemp())

    plain_url = f"sqlite:///{folder / 'plain.db'}"
    database.upgrade(plain_url)
    plain_engine = database.get_engine(plain_url)
    started = time.perf_counter()
    objects = 0
    for found in client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
        row = found.to_dict()
        with plain_engine.begin() as conn:  # one transaction per object, as the sync
            known = conn.execute(select(Member.id).where(Member.external_id == row["id"]))
            if known.first() is None:
                conn.execute(insert(Member).values(external_id=row["id"], email=row["email"]))
        objects += 1
    plain = time.perf_counter() - started

    url = f"sqlite:///{folder / 'sync.db'}"
    database.upgrade(url)
    started = time.perf_counter()
    summary = stripe_sync.sync(database.get_engine(url), client, canceled_days=180, dry_run=False)
    synced = time.perf_counter() - started
    applied = sum(sum(counts.values()) for counts in summary.counts.values())
    return {
        "customers": total,
        "objects": applied,
        "sync_s": synced,
        "sync_ms_per_1000": synced / applied * 1e6,
        "plain_ms_per_1000": plain / objects * 1e6,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "skipped": len(summary.skipped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", default="2000,20000,100000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one)))
        return
    rows = []
    for total in (int(n) for n in args.customers.split(",")):
        done = subprocess.run(
            [sys.executable, "-m", "bench.sync", "--one", str(total)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(
        f"{'customers':>10} {'objects':>8} {'sync s':>8} {'sync ms/1000':>13} "
        f"{'plain ms/1000':>14} {'ratio':>6} {'peak MB':>8}"
    )
    for row in rows:
        ratio = row["sync_ms_per_1000"] / row["plain_ms_per_1000"]
        print(
            f"{row['customers']:>10,} {row['objects']:>8,} {row['sync_s']:>8.1f} "
            f"{row['sync_ms_per_1000']:>13,.0f} {row['plain_ms_per_1000']:>14,.0f} "
            f"{ratio:>6.1f} {row['peak_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
