"""The ingress app served from a thread of this process, on 127.0.0.1: for the demo, which
answers surveys through the real page over HTTP while its flows run, and for tests."""

import copy
import logging
import re
import socket
import threading
import time

import uvicorn
import uvicorn.config

# query parameters that carry a secret: MemberMouse cannot sign, so its token rides in the URL;
# unsubscribe and survey links carry a member's signed token
SECRET_PARAMETER = re.compile(r"([?&](?:token|key|secret|signature|sig)=)[^&#\s]*", re.IGNORECASE)


def hide_secrets(url: str) -> str:
    return SECRET_PARAMETER.sub(r"\1[hidden]", url)


class HideSecretsInAccessLog(logging.Filter):
    """uvicorn's access log prints each request's path with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = hide_secrets(str(args[2]))
            record.args = tuple(args)
        return True


def log_config() -> dict:
    """uvicorn's logging, with the secrets in request URLs hidden from the access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"hide_secrets": {"()": HideSecretsInAccessLog}}
    config["handlers"]["access"]["filters"] = ["hide_secrets"]
    return config


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BackgroundServer:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread; a context manager too."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", log_config=log_config()
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ingress", daemon=True)

    def start(self, wait: float = 20) -> "BackgroundServer":
        self.thread.start()
        deadline = time.monotonic() + wait
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
