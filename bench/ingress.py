"""The webhook ingress under load vs a plain-Python webhook receiver, in one run.

    python -m bench.ingress [--seconds 30] [--connections 8]

A load generator (its own process, keep-alive connections on 127.0.0.1) sends signed Stripe
`invoice.payment_failed` webhooks, each a new event for a new invoice, for `--seconds`:
  - memberflow: `memberflow ingress` (uvicorn, SQLite): verify with Stripe's library, store in the
    inbox, apply (member, subscription, invoice), compose the Prefect event, commit, answer 200;
  - plain: http.server + hmac + json + one sqlite3 INSERT and commit per webhook, same durability
    (WAL, synchronous=NORMAL): the least a receiver that stores before answering can do.
Printed: accepted per second, p50/p99 latency, and the rows found stored afterwards.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = "whsec_bench"
SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "stripe"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _signed(body: bytes) -> dict:
    timestamp = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={mac}"}


# -- load ----------------------------------------------------------------------------------------


def _client(port: int, worker: int, until: float, results: list) -> None:
    template = (SAMPLES / "invoice.payment_failed.json").read_text()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    n = 0
    while time.perf_counter() < until:
        n += 1
        body = template.replace("evt_1QinvFailed000001", f"evt_b{worker}_{n}")
        body = body.replace('"in_Ada002"', f'"in_b{worker}_{n}"').encode()
        started = time.perf_counter()
        conn.request("POST", "/webhooks/stripe", body=body, headers=_signed(body))
        response = conn.getresponse()
        response.read()
        results.append((response.status, time.perf_counter() - started))


def load(port: int, seconds: float, connections: int, queue) -> None:
    until = time.perf_counter() + seconds
    results: list = []
    threads = [
        threading.Thread(target=_client, args=(port, i, until, results)) for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def measure(port: int, seconds: float, connections: int) -> dict:
    queue = multiprocessing.Queue()
    generator = multiprocessing.Process(target=load, args=(port, seconds, connections, queue))
    generator.start()
    results = queue.get()
    generator.join()
    latencies = sorted(t for status, t in results if status == 200)
    return {
        "accepted": len(latencies),
        "refused": len(results) - len(latencies),
        "per_second": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def wait_until_up(port: int, path: str = "/health") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


# -- the two receivers -----------------------------------------------------------------------------


def memberflow_server(database: Path, port: int) -> subprocess.Popen:
    from memberflow.db import upgrade

    url = f"sqlite:///{database}"
    upgrade(url)
    code = (
        "import uvicorn, logging; from memberflow.ingress.app import create_app;"
        "from memberflow.core.settings import Settings;"
        f"app = create_app(Settings(database_url={url!r}, stripe_webhook_secret={SECRET!r}));"
        "logging.getLogger('memberflow.ingress').setLevel(logging.WARNING);"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    server = subprocess.Popen([sys.executable, "-c", code])
    wait_until_up(port)
    for name in ("customer.created", "customer.subscription.created"):  # Ada and her plan
        body = (SAMPLES / f"{name}.json").read_bytes()
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("POST", "/webhooks/stripe", body=body, headers=_signed(body))
        assert conn.getresponse().status == 200
    return server


def plain_server(database: Path, port: int) -> None:
    """Runs in a child process: the same work by hand. Verify, parse, then in one transaction
    store the webhook, find the member and subscription, insert the invoice, record the event."""
    from memberflow.db import upgrade

    upgrade(f"sqlite:///{database}")
    db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "INSERT INTO member (external_id, email, first_name, last_name, locale, time_zone) "
        "VALUES ('cus_Ada001', 'ada@example.com', 'Ada', 'Lovelace', 'en', 'UTC')"
    )
    db.execute("INSERT INTO product (external_id, name) VALUES ('prod_Gold', 'Gold')")
    db.execute(
        "INSERT INTO subscription (external_id, member_id, product_id, status, amount_minor, "
        "currency, interval, current_period_end) VALUES ('sub_Ada001', 1, 1, 'active', "
        "1900, 'USD', 'month', '2026-12-01 00:00:00')"
    )
    lock = threading.Lock()

    def store(event: dict, body: bytes) -> None:
        invoice = event["data"]["object"]
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        with lock:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "INSERT INTO inbox (key, provider, event_id, event_type, occurred_at, "
                "received_at, status, body, emit_attempts) VALUES (?, 'stripe', ?, ?, ?, ?, "
                "'applied', ?, 0) ON CONFLICT DO NOTHING",
                ("stripe:" + event["id"], event["id"], event["type"], now, now, body.decode()),
            )
            webhook_id = cursor.lastrowid
            member_id = db.execute(
                "SELECT id FROM member WHERE external_id = ?", (invoice["customer"],)
            ).fetchone()[0]
            sub_id = db.execute(
                "SELECT id FROM subscription WHERE external_id = ?", (invoice["subscription"],)
            ).fetchone()[0]
            invoice_id = db.execute(
                "INSERT INTO invoice (external_id, subscription_id, amount_minor, currency, "
                "status, attempt_count, decline_code, advice_code) VALUES (?, ?, ?, ?, 'open', "
                "?, ?, ?)",
                (
                    invoice["id"],
                    sub_id,
                    invoice["amount_due"],
                    invoice["currency"].upper(),
                    invoice["attempt_count"],
                    invoice["charge"]["outcome"]["reason"],
                    invoice["charge"]["outcome"]["advice_code"],
                ),
            ).lastrowid
            announced = {
                "event": "memberflow.payment.failed",
                "payload": {
                    "member_id": member_id,
                    "subscription_id": sub_id,
                    "invoice_id": invoice_id,
                },
            }
            db.execute(
                "UPDATE inbox SET member_id = ?, subscription_id = ?, invoice_id = ?, "
                "prefect_event = ? WHERE id = ?",
                (member_id, sub_id, invoice_id, json.dumps(announced), webhook_id),
            )
            db.execute("COMMIT")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

        def do_GET(self):
            self._answer(200)

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            parts = dict(p.split("=", 1) for p in self.headers["Stripe-Signature"].split(","))
            payload = f"{parts['t']}.".encode() + body
            expected = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, parts["v1"]):
                return self._answer(401)
            store(json.loads(body), body)
            self._answer(200)

        def _answer(self, status: int):
            reason = "OK" if status == 200 else "Unauthorized"
            self.wfile.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\n\r\n{{}}".encode()
            )

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def stored_rows(database: Path, table: str) -> int:
    with sqlite3.connect(database) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memberflow-bench-ingress-"))
    rows = []

    port = free_port()
    server = memberflow_server(workdir / "memberflow.db", port)
    try:
        result = measure(port, args.seconds, args.connections)
    finally:
        server.terminate()
        server.wait()
    result["stored"] = stored_rows(workdir / "memberflow.db", "inbox") - 2  # minus the setup
    rows.append(("memberflow ingress", result))

    port = free_port()
    plain = multiprocessing.Process(target=plain_server, args=(workdir / "plain.db", port))
    plain.start()
    wait_until_up(port)
    try:
        result = measure(port, args.seconds, args.connections)
    finally:
        plain.kill()
    result["stored"] = stored_rows(workdir / "plain.db", "inbox")
    rows.append(("plain receiver", result))

    print(
        f"\n{args.seconds:.0f} s of signed Stripe webhooks, {args.connections} connections, "
        f"{os.cpu_count()} cores, SQLite\n"
    )
    header = (
        f"{'receiver':<20} {'accepted':>9} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'stored':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(
            f"{name:<20} {r['accepted']:>9} {r['per_second']:>8.1f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['stored']:>8}"
        )
    ratio = rows[1][1]["per_second"] / rows[0][1]["per_second"]
    print(f"\nplain / memberflow throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
