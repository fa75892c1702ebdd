"""localstripe (PyPI: a stateful fake Stripe server others wrote, test-only), run on loopback."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from memberflow.ingress.serve import free_port


@contextmanager
def running() -> Iterator[str]:
    """A fresh localstripe process; its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/v1/customers", auth=("sk_test_x", ""), timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("localstripe did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
