"""Flaky outputs: a receiver that fails 30% of requests (500s, 429 with Retry-After, answers
that outlive the client's timeout, connections dropped without a word) and refuses two members'
messages outright. A run and the runs after it deliver everything or dead-letter it with the
reason after the attempt limit; a message is taken twice only when the receiver took it but
its answer was lost, and then with the same key."""

import json
import random
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from blocks.outputs.webhook import WebhookOutput
from memberflow.core.models import Touchpoint
from memberflow.core.settings import Settings
from memberflow.messaging import http
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver, Reply
from tests.support.trials import TRIALS, empty

AS_OF = at("2026-12-01 09:00")
PIPELINE = ReminderPipeline()
MEMBERS = 120
ANSWER_TIMEOUT = 1.0  # generous: a loaded CI machine can take 0.3 s to answer a plain 200
MAX_ATTEMPTS = 5
REFUSED = {"s007", "s042"}  # the receiver refuses their messages with a 422, every time
# every run here is for the same moment: a failed message's next try is due at once (the
# schedule between tries is tests/flows/test_poison_messages.py's)
RETRY_AT_ONCE = {"max_attempts": MAX_ATTEMPTS, "retry_backoff": timedelta(0)}
FAULTS = {
    "500": Reply(500),
    "429": Reply(429, {"Retry-After": "0.05"}),
    "stall": Reply(200, delay=ANSWER_TIMEOUT + 0.5),  # taken; the answer comes too late
    "drop": Reply(drop=True),
}


@pytest.fixture
def quick_backoff(monkeypatch):
    """The retry backoff (1, 2, 4 s) at a twentieth: the same waits, sooner."""
    real_sleep = http._sleep
    monkeypatch.setattr(http, "_sleep", lambda seconds: real_sleep(seconds / 20))


def flaky(rng: random.Random, injected: Counter):
    def answer(body: bytes) -> Reply | None:
        subscription = json.loads(body)["key"].split(":")[2]
        if subscription in REFUSED:
            return Reply(422)
        if rng.random() >= 0.3:
            return None
        fault = rng.choice(sorted(FAULTS))
        injected[fault] += 1
        return FAULTS[fault]

    return answer


def outcomes(engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Touchpoint.key, Touchpoint.status, Touchpoint.error))
        return {key: (str(status), error) for key, status, error in rows}


def test_a_flaky_receiver_gets_everything_or_a_reason_and_a_repeat_only_when_its_answer_was_lost(
    engine, quick_backoff, figures
):
    rng, injected = random.Random(17), Counter()
    totals = Counter()
    for _ in range(TRIALS):
        empty(engine)
        for n in range(MEMBERS):
            add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
        plan_all(engine, PIPELINE, AS_OF, AS_OF - timedelta(days=7))
        with HttpReceiver() as receiver:
            receiver.faults = flaky(rng, injected)
            output = WebhookOutput(
                url=receiver.url, secret="s", max_concurrency=8, answer_timeout=ANSWER_TIMEOUT
            )
            runs = 0
            while {status for status, _ in outcomes(engine).values()} - {"sent", "dead"}:
                runs += 1
                assert runs <= 3 * MAX_ATTEMPTS, outcomes(engine)
                deliver_all(engine, Settings(), PIPELINE, output, AS_OF, **RETRY_AT_ONCE)
        taken: dict[str, list[str]] = defaultdict(list)  # key: how each copy it took was answered
        for request in receiver.requests:
            if request.reply is None or request.reply.accepted:
                stalled = request.reply is not None and request.reply.delay > ANSWER_TIMEOUT
                taken[request.headers["Idempotency-Key"]].append("stall" if stalled else "ok")
        final = outcomes(engine)
        dead = {key: error for key, (status, error) in final.items() if status == "dead"}
        assert {key.split(":")[2] for key in dead} == REFUSED
        assert all(error.startswith("HTTP 422 from http://127.0.0.1") for error in dead.values())
        sent = {key for key, (status, _) in final.items() if status == "sent"}
        assert len(sent) == MEMBERS - len(REFUSED) and sent <= set(taken)  # nothing lost
        for key, copies in taken.items():
            # a second copy only after an answer was lost, with the same key
            assert len(copies) == 1 or copies[:-1].count("stall") == len(copies) - 1, (key, copies)
        totals["runs"] += runs
        totals["requests"] += len(receiver.requests)
        totals["delivered"] += len(sent)
        totals["dead_lettered"] += len(dead)
        totals["taken_twice"] += sum(len(copies) > 1 for copies in taken.values())
    figures.append(
        {
            "test": f"flaky receiver ({engine.dialect.name})",
            "trials": TRIALS,
            "faults": "+".join(f"{injected[name]} {name}" for name in sorted(FAULTS)),
            **totals,
            "lost": 0,
        }
    )
