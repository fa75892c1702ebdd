"""A loopback webhook receiver for benchmarks: keep-alive HTTP/1.1, answers 200, counts keys.

Run as `python -m bench.receiver PORT [LATENCY_MS]`: each POST is answered after LATENCY_MS, as
a Zapier hook or a CRM answers in 50 to 500 ms. GET /stats returns {"requests": n,
"unique_keys": k}.
"""

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

requests_seen = 0
keys: set[str] = set()
latency = 0.0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep the client's connection open
    wbufsize = -1  # headers and body leave in one send: no Nagle/delayed-ACK stall of 40 ms

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        global requests_seen
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            requests_seen += 1
            keys.add(self.headers.get("Idempotency-Key", ""))
        if latency:
            time.sleep(latency)
        self._reply(b"{}")

    def do_GET(self):
        self._reply(json.dumps({"requests": requests_seen, "unique_keys": len(keys)}).encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients connect at once


if __name__ == "__main__":
    latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
