"""localstripe (PyPI: a stateful fake Stripe server others wrote, test-only), run on loopback."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from memberflow.ingress.serve import free_port

# localstripe pickles its whole store to /tmp/localstripe.pickle on every write: a 500-member
# business then takes minutes to create (quadratic), and two servers would share the file. The
# tests start each server from scratch and never reload it, so the copy on disk is turned off.
SERVE = (
    "import sys; from localstripe import resources, server; "
    "resources.Store.dump_to_disk = lambda self: None; "
    "sys.argv[0] = 'localstripe'; server.start()"
)


@contextmanager
def running() -> Iterator[str]:
    """A fresh localstripe process; its base URL."""
    port = free_port()
    command = [sys.executable, "-c", SERVE, "--port", str(port), "--from-scratch"]
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
