"""Each measurement in a child process of its own, so that its peak memory is its own."""

import json
import os
import subprocess
import sys
import time


def measure(module: str, *args: str) -> dict:
    """Runs `python -m module --child *args` and returns the dict it printed as `RESULT {...}`."""
    command = [sys.executable, "-m", module, "--child", *args]
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def report_result(result: dict) -> None:
    """What a child prints for `measure`, with its peak memory."""
    import resource

    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def settle() -> None:
    """Flush the build's dirty pages first, so that the next measurement does not pay for them."""
    os.sync()
    time.sleep(2)
