"""Real servers on 127.0.0.1 for output tests: an HTTP receiver and an SMTP server."""

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from memberflow.ingress.serve import BackgroundServer, free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    reply: "Reply | None" = None  # how it was answered (None: the receiver's default 200)

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without a word, as a crashed receiver does

    @property
    def accepted(self) -> bool:
        """Whether the receiver took the message (a stall that outlived the client's patience
        still took it: only the answer was lost)."""
        return not self.drop and self.status < 300


class HttpReceiver:
    """Answers with scripted replies (then 200s after `latency` seconds, as a real CRM or
    Zapier would), records every request it got, and how many it was answering at once."""

    def __init__(self, latency: float = 0.0):
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        # when the script is spent: a Reply for this request's body, or None for the default
        self.faults: Callable[[bytes], Reply | None] = lambda body: None
        self.reply_body = lambda: "{}"  # what a 2xx/4xx/5xx answer carries
        self.latency = latency
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    reply = receiver.script.pop(0) if receiver.script else receiver.faults(body)
                    headers = dict(self.headers)
                    receiver.requests.append(Received(self.path, headers, body, reply))
                    receiver.in_flight += 1
                    receiver.peak = max(receiver.peak, receiver.in_flight)
                reply = reply or Reply(delay=receiver.latency)
                time.sleep(reply.delay)
                with receiver.lock:
                    receiver.in_flight -= 1
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                answer = receiver.reply_body().encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def process_request(self, request, client_address):
                with receiver.lock:
                    receiver.connections += 1
                super().process_request(request, client_address)

            def shutdown_request(self, request):
                super().shutdown_request(request)
                with receiver.lock:
                    receiver.connections -= 1

        self.connections = 0  # open client connections (a killed client's close, in time)
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def settle(self, quiet: float = 0.3, timeout: float = 30.0) -> None:
        """Waits until every client connection has closed and no request came for `quiet`
        seconds: after a client is killed, what it had on the wire has then arrived (a fixed
        sleep is too short on a loaded machine)."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                count, open_ = len(self.requests), self.connections
            if count != seen:
                seen, since = count, time.monotonic()
            elif open_ == 0 and time.monotonic() - since >= quiet:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the receiver did not settle in {timeout} s ({open_} open)")

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """An aiosmtpd handler that keeps every message and counts sessions."""

    def __init__(self, reject_rcpt: str | None = None):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0
        self.reject_rcpt = reject_rcpt

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.reject_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted for delivery"


def smtp_server(handler, **kwargs) -> Controller:
    # aiosmtpd connects to its own port to see that it is up, so port 0 will not do
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


# An ASGI app served by uvicorn on 127.0.0.1 in a thread, for as long as the context.
AppServer = BackgroundServer


class HungServer:
    """Accepts TCP connections and never says a word: an SMTP server that hangs."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(50)
        self.port = self.socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)

    def __enter__(self) -> "HungServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()
