"""Concurrent runs: two reminder runs for the same day at once, as two processes (an operator's
manual run beside the schedule's, or two workers), on the same database: each message sent
once, and each run's summary adds up to the day."""

import threading

import pytest

from blocks.outputs.webhook import WebhookOutput
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver
from tests.support.trials import TRIALS, empty, received, recorded, run_reminders

pytestmark = pytest.mark.usefixtures("prefect_harness")
AS_OF = at("2026-12-01 09:00")
MEMBERS = 150
OUTPUT = "memberflow-webhook-output/concurrent-runs"


def test_two_runs_for_the_same_day_at_once_send_each_message_once(database_url, engine, figures):
    totals = {"trials": 0, "delivered": 0, "duplicates": 0, "lost": 0}
    with HttpReceiver(latency=0.02) as receiver:
        WebhookOutput(url=receiver.url, secret="s", max_concurrency=4).save(
            "concurrent-runs", overwrite=True
        )
        for _ in range(max(1, TRIALS // 2)):
            empty(engine)
            receiver.requests.clear()
            for n in range(MEMBERS):
                add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
            runs = [None, None]

            def run(n: int, runs=runs) -> None:
                # a lease that outlasts any stall of a loaded machine: no run here dies, so
                # one taking over the other's claim would be a test artefact, not a crash
                runs[n] = run_reminders(
                    database_url, AS_OF.isoformat(), OUTPUT, MEMBERFLOW_CLAIM_LEASE_SECONDS="60"
                )

            threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for done in runs:
                assert done.returncode == 0, done.output
            final, got = recorded(engine), received(receiver.requests)
            assert len(final) == MEMBERS and set(final.values()) == {"sent"}
            assert set(got) == set(final) and set(got.values()) == {1}
            assert sum(done.sent for done in runs) == MEMBERS  # each counts only its own
            totals["split"] = "/".join(str(done.sent) for done in runs)
            totals["trials"] += 1
            totals["delivered"] += len(got)
    figures.append({"test": f"two runs at once ({engine.dialect.name})", **totals})
