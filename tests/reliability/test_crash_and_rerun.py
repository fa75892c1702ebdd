"""Crash and rerun: the reminder run in a child process, SIGKILLed at seeded random moments
while it delivers to a receiver that counts every request by idempotency key and dedupes
nothing; then a rerun to completion, at once (it waits out the dead run's claim) or after the
claim has lapsed. Every due message arrives; a message arrives twice only if it was in flight
at the kill (taken by the receiver, not yet recorded), and then with the same key."""

import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from blocks.outputs.webhook import WebhookOutput
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver
from tests.support.trials import (
    LEASE_SECONDS,
    TRIALS,
    dead_sessions_gone,
    empty,
    received,
    recorded,
    run_reminders,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")
AS_OF = at("2026-12-01 09:00")
MEMBERS, IN_FLIGHT = 80, 8
OUTPUT = "memberflow-webhook-output/crash-trials"


def test_a_run_killed_at_any_moment_then_rerun_delivers_everything_once(
    database_url, engine, figures
):
    rng = random.Random(20261127)
    totals = {"trials": 0, "delivered": 0, "duplicates": 0, "lost": 0, "in_flight_at_kill": 0}
    with HttpReceiver(latency=0.04) as receiver:
        WebhookOutput(url=receiver.url, secret="s", max_concurrency=IN_FLIGHT).save(
            "crash-trials", overwrite=True
        )
        for trial in range(TRIALS):
            empty(engine)
            receiver.requests.clear()
            for n in range(MEMBERS):
                add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
            # most kills land mid-delivery, after a random number of sends; some at a random
            # moment from the start (while the run starts, plans or claims)
            after_sends = rng.randrange(1, MEMBERS) if rng.random() < 0.8 else None
            kill_at = time.monotonic() + rng.uniform(0.5, 6.0)

            def kill_now(after_sends=after_sends, kill_at=kill_at) -> bool:
                if after_sends is not None:
                    return len(receiver.requests) >= after_sends
                return time.monotonic() >= kill_at

            crash = run_reminders(database_url, AS_OF.isoformat(), OUTPUT, kill_when=kill_now)
            receiver.settle()  # what the killed run had on the wire has arrived
            dead_sessions_gone(engine)  # and its database session has let go of its rows
            at_kill = recorded(engine)
            got_before = received(receiver.requests)
            in_flight = {key for key in got_before if at_kill.get(key) != "sent"}
            wait_out_the_claim = trial % 2 == 1
            if wait_out_the_claim:
                time.sleep(LEASE_SECONDS + 0.5)
            rerun = run_reminders(database_url, AS_OF.isoformat(), OUTPUT)
            assert rerun.returncode == 0, rerun.output

            final, got = recorded(engine), received(receiver.requests)
            due = set(final)
            assert len(due) == MEMBERS and set(final.values()) == {"sent"}, (trial, final)
            assert set(got) == due  # nothing lost
            duplicates = {key for key, count in got.items() if count > 1}
            assert duplicates <= in_flight, (trial, crash.killed, duplicates - in_flight)
            assert all(got[key] == 2 for key in duplicates)
            assert len(in_flight) <= IN_FLIGHT
            totals["trials"] += 1
            totals["delivered"] += len(got)
            totals["duplicates"] += len(duplicates)
            totals["in_flight_at_kill"] += len(in_flight)
            totals["lost"] += len(due - set(got))
    figures.append({"test": f"crash and rerun ({engine.dialect.name})", **totals})


def test_a_dead_runs_claims_that_lapse_at_different_moments_are_all_taken(
    settings, engine, monkeypatch
):
    """The cause of the flake above, made deterministic: a run killed right after a batch claimed
    more rows (its top-up) and before its next renewal holds rows under two leases that lapse
    apart. The rerun must take both, not stop after the first lapses. The lease is long enough
    (6 s) for the flow to start and send the pending rows before the first lapses."""
    from sqlalchemy import update

    from flows.reminders import reminders
    from memberflow.core.models import Touchpoint, TouchpointStatus
    from memberflow.core.settings import get_settings
    from memberflow.pipelines.reminders.pipeline import ReminderPipeline
    from tests.support.delivery import plan_all

    monkeypatch.setenv("MEMBERFLOW_CLAIM_LEASE_SECONDS", "6")
    get_settings.cache_clear()
    for n in range(30):
        add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
    plan_all(engine, ReminderPipeline(), AS_OF, AS_OF - timedelta(days=1), WebhookOutput.channel)
    now = datetime.now(UTC)
    with engine.begin() as conn:  # the dead run's two leases: its batch, then its top-up
        for ids, claimed_at in (
            (range(1, 11), now - timedelta(seconds=1)),
            (range(11, 21), now),
        ):
            conn.execute(
                update(Touchpoint)
                .where(Touchpoint.id.in_(list(ids)))
                .values(status=TouchpointStatus.sending, claimed_by="dead", claimed_at=claimed_at)
            )
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret="s").save("two-leases", overwrite=True)
        reminders(as_of=AS_OF, output="memberflow-webhook-output/two-leases", batch_size=10)
        got = received(receiver.requests)
    assert set(recorded(engine).values()) == {"sent"}
    assert len(got) == 30 and set(got.values()) == {1}
