"""The ingress app served from a thread of this process, on 127.0.0.1: for the demo, which
answers surveys through the real page over HTTP while its flows run."""

import threading
import time

import uvicorn


class BackgroundServer:
    def __init__(self, app, port: int):
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ingress", daemon=True)

    def start(self, wait: float = 20) -> "BackgroundServer":
        self.thread.start()
        deadline = time.monotonic() + wait
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ingress did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
