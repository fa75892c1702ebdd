"""Starts and stops a local `prefect server start` for the demo and for ops trying memberflow."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

URL = "http://127.0.0.1:4200"
PID_FILE = Path(".prefect-server.pid")
LOG_FILE = Path(".prefect-server.log")


def healthy(url: str = URL) -> bool:
    import requests  # here: every command line would otherwise pay for it at start

    from memberflow.messaging.http import make_session

    try:
        return make_session().get(f"{url}/api/health", timeout=2).ok
    except requests.RequestException:
        return False


def ensure_running(url: str = URL, wait: float = 90) -> tuple[str, bool]:
    """Returns (api url, started here). Starts a server in the background if none answers."""
    if healthy(url):
        return f"{url}/api", False
    prefect = Path(sys.executable).with_name("prefect")
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            [
                str(prefect),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                url.rsplit(":", 1)[1],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if healthy(url):
            return f"{url}/api", True
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not start; see {LOG_FILE.resolve()}")


def stop() -> bool:
    """Stops the server this helper started (by its pid file); False if there was none."""
    if not PID_FILE.exists():
        return False
    pid = int(PID_FILE.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    PID_FILE.unlink()
    return True
