"""Sends that overlap against slow receivers, and claims that are leases: each hazard found
when delivery was first made concurrent, kept as a case. On SQLite and PostgreSQL."""

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from blocks.outputs.webhook import WebhookOutput
from memberflow.core.models import Touchpoint
from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging import delivery, store
from memberflow.messaging.claims import LAPSE_MARGIN, DeliveryOptions, abandoned_wait
from memberflow.messaging.consent import Kind
from memberflow.messaging.delivery import deliver_batch, new_token
from memberflow.messaging.lease import Lease
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import THROTTLED
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from memberflow.pipelines.reminders.steps import ReminderStep
from tests.support.cancellations import set_member
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder
from tests.support.servers import HttpReceiver, Reply

AS_OF = at("2026-12-01 09:00")
PIPELINE = ReminderPipeline()


def due(engine, count: int) -> None:
    """`count` renewal reminders due at AS_OF, planned."""
    for n in range(count):
        add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
    plan_all(engine, PIPELINE, AS_OF, AS_OF - timedelta(days=7))


def deliver(engine, output, **options) -> dict:
    return deliver_all(engine, Settings(), PIPELINE, output, AS_OF, **options)


def statuses(engine) -> Counter:
    with engine.connect() as conn:
        return Counter(conn.execute(select(Touchpoint.status)).scalars())


def keys_received(receiver: HttpReceiver) -> Counter:
    return Counter(request.headers["Idempotency-Key"] for request in receiver.requests)


def test_sends_overlap_against_a_slow_receiver_and_each_arrives_once(engine):
    due(engine, 40)
    with HttpReceiver(latency=0.1) as receiver:
        output = WebhookOutput(url=receiver.url, secret="s", max_concurrency=8)
        tally = deliver(engine, output, limit=20)
    assert tally["renewal_7d"]["sent"] == 40 and statuses(engine) == {"sent": 40}
    received = keys_received(receiver)
    assert len(received) == 40 and set(received.values()) == {1}
    assert receiver.peak == 8  # slow start reached the Block's limit, and never passed it


def test_a_claim_takes_only_its_own_batch_even_when_the_run_holds_others(engine):
    """Eight concurrent batches once sent 5,016 POSTs for 1,000 reminders: each batch's claim
    read back every row the run held."""
    due(engine, 10)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ids = store.next_claimable_ids(
            conn, pipeline="reminders", as_of=AS_OF, stale_before=now, after_id=0, limit=10
        )
        claim = {"pipeline": "reminders", "as_of": AS_OF, "token": "run", "now": now}
        claim["stale_before"] = now
        first = store.claim(conn, ids=ids[:5], **claim)
        second = store.claim(conn, ids=ids[5:], **claim)
    assert [row.touchpoint_id for row in first] == ids[:5]
    assert [row.touchpoint_id for row in second] == ids[5:]


def test_a_slow_batch_keeps_its_claim_and_is_never_overtaken(engine):
    """A batch that outlived its claim timeout was sent twice (355 of 698 keys): the sender's
    lease is renewed while it sends, so a second run finds nothing to take."""
    due(engine, 12)
    slow = Recorder(delay=0.2)  # 12 x 0.2 s = 2.4 s: three times the lease
    lease = timedelta(seconds=0.8)
    first = threading.Thread(target=deliver, args=(engine, slow), kwargs={"lease": lease})
    first.start()
    while not statuses(engine)["sending"]:  # the first run has claimed its batch
        time.sleep(0.01)
    second, overtaken = Recorder(), 0
    while first.is_alive():
        tally = deliver(engine, second, lease=lease)
        overtaken += tally.get("renewal_7d", Counter()).get("sent", 0)
        time.sleep(0.05)
    first.join()
    assert overtaken == 0 and second.sent == []
    assert len(slow.sent) == 12 and len({m.key for m in slow.sent}) == 12
    assert statuses(engine) == {"sent": 12}


def test_a_sender_whose_renewing_thread_is_late_renews_before_it_sends(engine, monkeypatch):
    """On a busy machine the renewing thread can miss its turn (CI once saw a run send 2 of 12
    and give the rest up): the sender renews itself, and keeps every row that is still its own."""
    due(engine, 6)
    monkeypatch.setattr(Lease, "_keep", lambda lease: None)  # the renewing thread never runs
    output = Recorder(delay=0.1)
    tally = deliver(engine, output, lease=timedelta(seconds=0.3))
    assert len(output.sent) == 6 and tally["renewal_7d"]["sent"] == 6
    assert statuses(engine) == {"sent": 6}


class Crash(BaseException):
    """Stands in for the process dying mid-batch."""


def test_a_crashed_senders_messages_come_back_after_one_lease_not_fifteen_minutes(engine):
    """The lease is a minute, and its lapse is played by ageing the dead run's claims: with a
    one-second lease a busy CI host once let it lapse before the 'at once' rerun."""
    due(engine, 6)
    output, calls = Recorder(), 0
    original = output.send

    def dies_on_the_third(message):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Crash()
        return original(message)

    output.send = dies_on_the_third
    lease = timedelta(minutes=1)
    try:
        deliver(engine, output, lease=lease)
    except Crash:
        pass
    assert statuses(engine) == {"sent": 2, "sending": 4}
    output.send = original
    rerun = DeliveryOptions(token="rerun", lease=lease)
    held, wait = abandoned_wait(engine, PIPELINE, AS_OF, rerun)
    assert held == 4 and 55 < wait <= 60 + LAPSE_MARGIN
    deliver(engine, output, lease=lease)  # at once: the dead run's lease still runs
    assert len(output.sent) == 2
    with engine.begin() as conn:  # one lease later
        held_since = conn.execute(
            select(Touchpoint.id, Touchpoint.claimed_at).where(Touchpoint.status == "sending")
        ).all()
        for row_id, claimed_at in held_since:
            aged = update(Touchpoint).where(Touchpoint.id == row_id)
            conn.execute(aged.values(claimed_at=claimed_at - lease))
    assert abandoned_wait(engine, PIPELINE, AS_OF, rerun) == (4, LAPSE_MARGIN)
    deliver(engine, output, lease=lease)
    assert statuses(engine) == {"sent": 6}
    assert Counter(m.key for m in output.sent).most_common(1)[0][1] == 1  # each key once


def test_a_sender_whose_rows_were_taken_over_sends_none_of_them(engine):
    due(engine, 4)
    output = Recorder(delay=0.15)  # the lease (0.4 s) is renewed every 0.1 s
    original = output.send

    def taken_over_after_the_first(message):
        if len(output.sent) == 1:
            with engine.begin() as conn:  # another run took them, as after a lapsed lease
                conn.execute(update(Touchpoint).values(claimed_by="another run"))
        return original(message)

    output.send = taken_over_after_the_first
    tally = deliver(engine, output, lease=timedelta(seconds=0.4))
    assert len(output.sent) == 2 and tally["renewal_7d"]["lost_claim"] == 2


def test_a_sender_that_cannot_renew_its_lease_stops_before_it_could_lapse(engine, monkeypatch):
    """Its database is gone: it must stop before another run may take its rows."""
    due(engine, 6)

    def database_gone(*args, **kwargs):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(store, "renew_claims", database_gone)
    output = Recorder(delay=0.1)
    tally = deliver(engine, output, lease=timedelta(seconds=0.5))
    # it may send while its claim is younger than half the lease (0.25 s): 3 at 0.1 s each, or
    # fewer on a busy machine (rendering the first message can take a while); never more
    assert 1 <= len(output.sent) <= 3 and tally["renewal_7d"]["lost_claim"] == 6 - len(output.sent)


def test_a_receiver_that_says_too_many_slows_every_send_and_loses_nothing(engine):
    due(engine, 20)
    with HttpReceiver() as receiver:
        receiver.script = [Reply(429, {"Retry-After": "0.2"})] * 3
        output = WebhookOutput(url=receiver.url, secret="s", max_concurrency=8)
        tally = deliver(engine, output)
    assert tally["renewal_7d"]["sent"] == 20 and tally[THROTTLED] == {"WebhookOutput": 3}
    with engine.connect() as conn:
        attempts = set(conn.execute(select(Touchpoint.attempts)).scalars())
    assert attempts == {1}  # being asked to wait used up no attempt
    received = keys_received(receiver)
    assert len(received) == 20 and sum(received.values()) == 23  # 3 asked again, none lost


def test_a_rate_limit_spaces_the_sends(engine):
    due(engine, 6)
    with HttpReceiver() as receiver:
        output = WebhookOutput(url=receiver.url, secret="s", rate_limit=20, max_concurrency=4)
        started = time.monotonic()
        deliver(engine, output)
        took = time.monotonic() - started
    # 20 a second: the sixth starts no sooner than 0.25 s after the first (a lower bound only)
    assert statuses(engine) == {"sent": 6} and len(receiver.requests) == 6 and took >= 0.25


def test_two_workers_share_a_day_and_send_each_message_once(engine):
    due(engine, 120)
    with HttpReceiver(latency=0.01) as receiver:
        outputs = [WebhookOutput(url=receiver.url, secret="s", max_concurrency=4) for _ in "ab"]
        tallies = [{}, {}]

        def worker(n: int) -> None:
            tallies[n] = deliver(engine, outputs[n], limit=10)

        threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    sent = [tally.get("renewal_7d", Counter()).get("sent", 0) for tally in tallies]
    assert sum(sent) == 120 and min(sent) > 0, sent  # both took part
    assert set(keys_received(receiver).values()) == {1} and len(receiver.requests) == 120


def one_batch(engine, output, limit: int, pipeline=PIPELINE, settings=None, **options):
    """One `deliver_batch` from the first id: (the cursor it returns, its tally)."""
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    try:
        return deliver_batch(
            engine,
            pipeline,
            renderer=renderer,
            output=output,
            settings=settings or Settings(),
            as_of=AS_OF,
            after_id=0,
            limit=limit,
            options=DeliveryOptions(token=new_token(), **options),
        )
    finally:
        output.close()


def test_a_batch_whose_sends_overlap_claims_the_next_rows_instead_of_waiting_for_its_last(
    engine,
):
    """Each batch of 1,000 waited for its last answers (about one latency) before the next was
    claimed: 16% of the rate at 200 ms. While its last sends are in flight, a batch now claims
    the next rows under the same lease, and the receiver is never left idle in between."""
    due(engine, 60)
    with HttpReceiver(latency=0.1) as receiver:
        output = WebhookOutput(url=receiver.url, secret="s", max_concurrency=8)
        cursor, tally = one_batch(engine, output, limit=10)
    assert cursor is None  # it went on to the end of what was due
    assert tally["renewal_7d"] == Counter(sent=60) and statuses(engine) == {"sent": 60}
    received = keys_received(receiver)
    assert len(received) == 60 and set(received.values()) == {1}
    assert receiver.peak == 8


def test_a_batch_claims_more_only_while_sends_overlap_and_only_for_a_while(engine, monkeypatch):
    due(engine, 30)
    # a receiver that answers at once gets one send at a time: nothing is in flight to cover
    cursor, tally = one_batch(engine, Recorder(), limit=10)
    assert tally["renewal_7d"] == Counter(sent=10) and cursor is not None
    monkeypatch.setattr(delivery, "TOP_UP_SECONDS", 0.0)  # its time is up as soon as it starts
    cursor, tally = one_batch(engine, Recorder(delay=0.05), limit=10, concurrency=4)
    assert tally["renewal_7d"] == Counter(sent=10) and cursor is not None
    assert statuses(engine) == {"sent": 20, "pending": 10}


class MarketingStep(ReminderStep):
    kind: Kind = Kind.marketing


class MarketingReminders(ReminderPipeline):
    """Reminders as if they were marketing: under consent and the contact cap."""

    def step_for(self, row):
        step = super().step_for(row)
        return step and MarketingStep(**step.model_dump())


def test_the_contact_cap_counts_the_messages_still_in_flight_when_a_batch_claims_more(engine):
    """A member's second message, claimed while the first was still on its way, saw nothing
    sent yet: both would have gone out under a cap of one a day."""
    for n in range(20):
        member = "m-twice" if n in (5, 6) else None  # the 6th and 7th rows: either side of 6
        add_subscription(
            engine, f"s{n:03d}", member=member, current_period_end=at("2026-12-08 10:00")
        )
    for n in range(20):
        member = "m-twice" if n in (5, 6) else f"m-s{n:03d}"
        set_member(engine, member, marketing_consent=True)
    plan_all(engine, PIPELINE, AS_OF, AS_OF - timedelta(days=7))
    settings = Settings(contact_cap="1/1d")
    out = Recorder(delay=0.3)
    _, tally = one_batch(
        engine, out, limit=6, pipeline=MarketingReminders(), settings=settings, concurrency=8
    )
    to_twice = [m for m in out.sent if m.to_email == "m-twice@example.com"]
    assert len(to_twice) == 1, [m.key for m in to_twice]
    assert tally["renewal_7d"]["sent"] == 19
