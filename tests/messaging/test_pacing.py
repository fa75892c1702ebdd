"""The pacer's arithmetic, on a clock the test moves (plain Python, no sleeping), and how
`Overlapping` hands out answers (threads, a few hundred milliseconds)."""

import pickle
import threading

from memberflow.messaging.pacing import Overlapping, Pacer, Sending
from tests.support.clock import FakeClock as Clock


def test_without_a_rate_nobody_waits():
    clock = Clock()
    pacer = Pacer(None, clock, clock.sleep)
    for _ in range(5):
        pacer.wait()
    assert clock.slept == []


def test_a_rate_spaces_sends_one_interval_apart():
    clock = Clock()
    pacer = Pacer(4, clock, clock.sleep)
    for _ in range(3):
        pacer.wait()
    assert clock.slept == [0.25, 0.25]


def test_slots_are_handed_out_in_turn_to_senders_arriving_together():
    clock = Clock()
    pacer = Pacer(10, clock, lambda seconds: None)  # three threads asking at the same instant
    starts = []
    for _ in range(3):
        pacer.wait()
        starts.append(round(pacer._next_slot - pacer.interval - clock.now, 6))
    assert starts == [0.0, 0.1, 0.2]


def test_a_pause_holds_everyone_then_the_rate_resumes():
    clock = Clock()
    pacer = Pacer(None, clock, clock.sleep)
    pacer.pause(2.0)
    pacer.pause(0.5)  # a shorter pause never shortens a longer one
    pacer.wait()
    pacer.wait()
    assert clock.slept == [2.0] and pacer.pauses == 2


def test_the_window_doubles_on_health_up_to_the_limit_and_drops_to_one_on_failure():
    sending = Sending()
    sending.took(0.5)  # a slow receiver: the limit, not the latency, bounds the window
    windows = []
    for healthy in (True, True, True, True, False, True):
        sending.answered(healthy, limit=6)
        windows.append(sending.window)
    assert windows == [2, 4, 6, 6, 1, 2]


def test_a_runs_sending_state_travels_to_another_process_with_a_lock_of_its_own():
    sending = Sending(rate=5, window=8)
    copy = pickle.loads(pickle.dumps(sending))
    assert (copy.window, copy.pacer.rate, copy.pacer.interval) == (8, 5, 0.2)
    assert copy.pacer._lock is not sending.pacer._lock


def test_the_window_never_passes_what_the_receivers_latency_can_use():
    fast, slow = Sending(), Sending()
    fast.took(0.0002)  # loopback: threads would only cost CPU
    slow.took(0.05)
    for _ in range(10):
        fast.answered(True, limit=256)
        slow.answered(True, limit=256)
    assert (fast.window, slow.window) == (1, 33)


def test_the_answers_of_one_wake_up_are_all_taken_before_another_send_starts():
    """`answered_all` (where delivery commits the outcomes) comes after each group of answers
    and before the next job starts: no outcome waits behind a new send."""
    events: list[str] = []
    release = threading.Event()

    def work(job: int) -> int:
        if job < 4:
            release.wait(5)  # the first four answer together
        events.append(f"sent {job}")
        return job

    sending = Sending(window=4)
    sending.took(0.2)
    sends = Overlapping(
        iter(range(6)),
        work,
        workers=4,
        sending=sending,
        stop=lambda: False,
        healthy=lambda result: True,
        answered_all=lambda: events.append("committed"),
    )
    threading.Timer(0.2, release.set).start()
    answered = [job for job, _ in sends]
    assert sorted(answered) == list(range(6))
    assert events.count("committed") >= 2 and events[-1] == "committed"
    first_commit = events.index("committed")
    # jobs 4 and 5 start only once a group of the first four was answered and committed
    assert all(events.index(f"sent {job}") > first_commit for job in (4, 5))
