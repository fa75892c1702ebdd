"""Delivery: claim due touchpoints, re-check each at send time, send it through the output
and record its outcome before anything more is sent.

Exactly once, by construction: a touchpoint is inserted under a unique key before anything is
sent (`planning`); a run claims it with a conditional UPDATE; it is marked sent right after the
output accepts it. The one open window is a crash between an output's success and that UPDATE;
the message then carries the key (Message-ID, Idempotency-Key) so the receiver can drop the
repeat.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Protocol

from sqlalchemy import Connection, Engine

from memberflow.core.links import link_secret, member_link
from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.settings import Settings
from memberflow.messaging import store
from memberflow.messaging.breaker import Breaker
from memberflow.messaging.cap import within_cap
from memberflow.messaging.claims import DeliveryOptions, claim_batch
from memberflow.messaging.composing import compose, decide, in_members_language, message_fields
from memberflow.messaging.consent import ContactCap
from memberflow.messaging.experiments import Assignment, hold_out
from memberflow.messaging.lease import Lease
from memberflow.messaging.messages import DeliveryError, Message, Receipt
from memberflow.messaging.pacing import Overlapping, Sending
from memberflow.messaging.protocols import Pipeline, Step, TouchpointRow
from memberflow.messaging.rendering import Renderer, TemplateProblem
from memberflow.messaging.store import Outcome
from memberflow.messaging.tally import (
    DEAD_LETTERS,
    FAILURE_REASONS,
    LANGUAGE_FALLBACKS,
    OUTPUT_FAILING,
    THROTTLED,
    Tally,
    add_tally,
    note,
)

Job = tuple[Step, TouchpointRow, dict]  # a message to send: its step, row and merge fields
# a job and its message as written, or the outcome of a template that could not be rendered:
# rendered on the main thread, so the sending threads only send (a hundred threads rendering
# at once under one GIL cost about a tenth of the rate at 200 ms)
Ready = tuple[Job, "Message | Outcome"]
# While sends overlap, a batch whose rows have all gone out claims more for this long: each
# batch's end waits for its last answers (about one latency), so it should come seldom
TOP_UP_SECONDS = 10.0
Enricher = Callable[[list[dict]], list[dict]]  # a batch's merge fields in, amended fields out


class Sender(Protocol):
    """What delivery needs of an output (a `blocks.outputs.base.Output` Block, or a test's):
    its channel, a send per message, and closing its connections."""

    channel: str

    def send(self, message: Message) -> Receipt: ...

    def close(self) -> None: ...


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Sent:
    """What one send came to: a receipt, or why not and of which kind (`DeliveryError`), or
    the pause the receiver asked for before the message is tried again."""

    receipt: Receipt | None = None
    error: str | None = None
    output_down: bool = False
    retry_after: float | None = None
    permanent: bool = False


def _send(output: Sender, message: Message) -> Sent:
    try:
        return Sent(receipt=output.send(message))
    except DeliveryError as error:
        return Sent(None, str(error), error.output_down, error.retry_after, error.permanent)
    except Exception as error:  # a plugin's bug fails this touchpoint, not the whole run
        return Sent(error=f"{type(error).__name__} in {type(output).__name__}: {error}"[:500])


def deliver_batch(
    engine: Engine,
    pipeline: Pipeline,
    *,
    renderer: Renderer,
    output: Sender,
    settings: Settings,
    as_of: datetime,
    after_id: int,
    limit: int,
    options: DeliveryOptions,
    enrich: Enricher | None = None,
    until_id: int | None = None,
) -> tuple[int | None, Tally]:
    """Claims up to `limit` due touchpoints after `after_id` (up to `until_id`: a partition's
    end), sends each, records each outcome; returns the cursor for the next batch (None when
    done) and what came of them.

    Sends overlap, up to the output's `concurrency` (real outputs answer in 50 to 500 ms), at
    its `rate_limit`; the main thread records the outcomes as the sends are answered, in one
    commit for the answers that came in together (one at a time: each its own), before it sends
    anything more, so a crash can repeat only the messages in flight at that instant. While
    sends overlap, a batch whose rows have all gone out claims the next `limit` (for up to
    `TOP_UP_SECONDS`), so it waits for its last answers once rather than every `limit` rows.
    `enrich`, if given, sees the merge fields of every touchpoint about to be sent, once per
    `limit` rows, before rendering (the place for a CRM lookup); it returns them, amended. The
    output stays open: its connections (SMTP sessions, HTTP keep-alive, one per sending thread)
    serve the run's next batch too, and whoever made it closes it when the run is done.
    """
    started = time.monotonic()
    claimed, rows = claim_batch(engine, pipeline, as_of, after_id, limit, options, until_id)
    sending = options.sending or Sending(getattr(output, "rate_limit", None))
    concurrency = options.concurrency or getattr(output, "concurrency", 1)
    breaker: Breaker[tuple[TouchpointRow, Outcome]] = Breaker(options.breaker_after)
    # One connection for the batch, one commit per wake-up's answers: an outcome is durable
    # before the next send starts, which keeps the crash window to the sends in flight.
    with engine.connect() as conn, Lease(engine, options.token, claimed, options.lease) as lease:
        batch = _Batch(conn, pipeline, renderer, settings, as_of, options)

        def jobs() -> Iterator[Ready]:
            nonlocal claimed, rows
            while True:
                for job in batch.prepared(rows, enrich):
                    yield job, batch.composed(job)
                topping_up = sending.window > 1 and not breaker.holding  # sends are in flight
                if not topping_up or len(claimed) < limit:
                    return
                if time.monotonic() - started > TOP_UP_SECONDS:
                    return
                claimed, rows = claim_batch(
                    engine, pipeline, as_of, claimed[-1], limit, options, until_id
                )
                lease.extend(claimed)

        def deliver(ready: Ready) -> tuple[Outcome | None, Answer]:
            (_, row, _), message = ready
            return _deliver_one(row, message, output, options, lease, sending, as_of)

        sends = Overlapping(
            jobs(),
            deliver,
            concurrency,
            sending,
            stop=lambda: breaker.tripped,
            healthy=lambda result: result[1] not in (Answer.refused, Answer.down),
            answered_all=batch.flush,
        )

        def spare(held: list[tuple[TouchpointRow, Outcome]]) -> None:
            for row, outcome in held:  # the output was failing: not the message's attempt
                batch.record(row, _spared(row, outcome))
                note(batch.tally, OUTPUT_FAILING)[outcome.error] += 1

        try:
            for ((_, row, row_fields), _), (outcome, answer) in sends:
                if outcome is None:  # another run took it over (our lease lapsed): it is theirs
                    batch.count(row, "lost_claim")
                    continue
                if answer in (Answer.refused, Answer.down):
                    spare(breaker.refused((row, outcome), down=answer is Answer.down))
                    continue
                if answer is Answer.sent:
                    for held in breaker.succeeded():  # it works: those messages were the problem
                        batch.failed(*held)
                    batch.record(row, _dated(outcome, as_of))
                    if pipeline.recipient(row, row_fields)[0] == row.email:
                        for warning in batch.notes[row.touchpoint_id]:  # ops' are not the member's
                            note(batch.tally, LANGUAGE_FALLBACKS)[warning] += 1
                    continue
                batch.failed(row, outcome)  # never reached the output: a template, an address
            to_spare, to_charge = breaker.finish()
            spare(to_spare)
            for held in to_charge:  # the batch ended before a verdict: as answered
                batch.failed(*held)
            for (_, row, _), _ in sends.unsent:  # the output was failing: not hammered, next run
                why = f"not tried: the output is failing ({_last_error(batch.tally)})"
                not_tried = Outcome(Status.pending, row.attempts, error=why[:1000])
                batch.record(row, not_tried, "not_tried")
        finally:
            batch.flush()  # what was answered is durable, whatever went wrong after
        if sending.pacer.pauses:  # this batch's share of the run's pauses
            pauses, sending.pacer.pauses = sending.pacer.pauses, 0
            note(batch.tally, THROTTLED)[_describe_output(output)] += pauses
    if breaker.tripped:  # the rest of the run's messages stay pending for the next run
        return None, batch.tally
    return (claimed[-1] if len(claimed) == limit else None), batch.tally


class Answer(Enum):
    """How a message's send ended, as the breaker sees it."""

    sent = "sent"
    refused = "refused"  # the output answered with a failure: this message's, or the output's
    down = "down"  # the output said it cannot work at all (`DeliveryError.output_down`)
    not_reached = "not reached"  # never given to the output: a template problem, a bad address


def _last_error(tally: Tally) -> str:
    failing = tally.get(OUTPUT_FAILING)
    return failing.most_common(1)[0][0] if failing else "unknown"


class _Batch:
    """What a delivery batch keeps on its connection (the main thread's): the outcomes
    recorded and committed (`flush`) once per wake-up's answers, the tally, and the checks
    every claimed row goes through before it may be sent."""

    def __init__(
        self,
        conn: Connection,
        pipeline: Pipeline,
        renderer: Renderer,
        settings: Settings,
        as_of: datetime,
        options: DeliveryOptions,
    ):
        self.conn, self.pipeline, self.renderer = conn, pipeline, renderer
        self.settings, self.as_of, self.options = settings, as_of, options
        self.cap = ContactCap.parse(settings.contact_cap)
        self.tally: Tally = {}
        self.assigned: dict[int, Assignment] = {}  # touchpoint id -> its place in an experiment
        self.notes: dict[int, list[str]] = {}  # touchpoint id -> what to warn of if it is sent
        # the contact cap counts messages let through and not recorded yet, per member: the
        # rows claimed while earlier ones are still in flight must see those
        self.in_flight: Counter = Counter()
        self._let_through: set[int] = set()  # touchpoint ids counted in `in_flight`
        self._secret: str | None = None

    def count(self, row: TouchpointRow, counted: str) -> None:
        self.tally.setdefault(row.step, Counter())[counted] += 1
        if row.touchpoint_id in self._let_through:
            self._let_through.remove(row.touchpoint_id)
            self.in_flight[row.member_id] -= 1

    def record(self, row: TouchpointRow, outcome: Outcome, counted: str | None = None) -> None:
        if row.touchpoint_id in self.assigned:
            place = self.assigned[row.touchpoint_id]
            outcome = replace(outcome, experiment=place.experiment, variant=place.name)
        store.record_outcome(
            self.conn, touchpoint_id=row.touchpoint_id, token=self.options.token, outcome=outcome
        )
        self.count(row, counted or outcome.status.value)

    def flush(self) -> None:
        """Makes the outcomes recorded since the last flush durable, in one commit."""
        self.conn.commit()

    def failed(self, row: TouchpointRow, outcome: Outcome) -> None:
        """Records a message that failed, and notes why (a dead one by its key: ops look
        for it, fix what is wrong and requeue it)."""
        self.record(row, outcome)
        if outcome.status is Status.dead:
            note(self.tally, DEAD_LETTERS)[f"{row.key}: {outcome.error}"] += 1
        elif outcome.error:
            note(self.tally, FAILURE_REASONS)[outcome.error] += 1

    def prepared(self, rows: list[TouchpointRow], enrich: Enricher | None) -> Iterator[Job]:
        """The rows that may be sent now (the rest recorded with why not), each as its step,
        its row in the member's language and its merge fields, made as the sends need them:
        the first sends go out while the rest are still being prepared."""
        sendable = self._screened(rows)
        jobs: Iterable[Job] = (self._job(step, row) for step, row in sendable)
        if enrich is not None and sendable:
            jobs = list(jobs)  # the enricher sees them all at once
            try:
                amended = _enriched(enrich, [fields for _, _, fields in jobs])
                jobs = [
                    (step, row, fields)
                    for (step, row, _), fields in zip(jobs, amended, strict=True)
                ]
            except Exception as error:  # the CRM is down: fail them, a later run retries
                reason = f"enricher failed: {type(error).__name__}: {error}"
                for _, row, _ in jobs:
                    self.record(row, _failure(row, reason, self.options))
                jobs = []
        yield from jobs

    def _screened(self, rows: list[TouchpointRow]) -> list[tuple[Step, TouchpointRow]]:
        """Send-time checks, then the experiments' holdout, then the contact cap."""
        sendable: list[tuple[Step, TouchpointRow]] = []
        for row in rows:
            step = self.pipeline.step_for(row)
            verdict = decide(self.pipeline, step, row, self.as_of)
            if verdict is None:
                sendable.append((step, row))
            else:
                self.record(row, Outcome(verdict[0], row.attempts, error=verdict[1]))
        sendable = hold_out(self.conn, self.pipeline.name, sendable, self.assigned, self.record)
        sendable = within_cap(
            self.conn, sendable, self.cap, self.as_of, self.record, self.in_flight
        )
        for _, row in sendable:
            if row.member_id is not None:
                self._let_through.add(row.touchpoint_id)
                self.in_flight[row.member_id] += 1
        if sendable and self._secret is None:
            self._secret = link_secret(self.conn, self.settings)
        self.conn.commit()
        return sendable

    def composed(self, job: Job) -> Message | Outcome:
        """The job's message, or the failure its template came to."""
        step, row, fields = job
        place = self.assigned.get(row.touchpoint_id)
        try:
            return compose(self.pipeline, step, row, fields, self.renderer, place)
        except TemplateProblem as problem:
            return _failure(row, f"template {problem}", self.options)

    def _job(self, step: Step, row: TouchpointRow) -> Job:
        place = self.assigned.get(row.touchpoint_id)
        if place and place.variant and place.variant.context:  # its offer, say
            row = replace(row, context={**row.context, **place.variant.context})
        template = place.variant.template if place and place.variant else None
        row, self.notes[row.touchpoint_id] = in_members_language(step, row, self.renderer, template)
        return step, row, message_fields(self.pipeline, step, row, self.settings, self._link)

    def _link(self, member_external_id: str, purpose: str, data: dict | None = None) -> str:
        secret = self._secret or ""
        return member_link(secret, self.settings, member_external_id, purpose, self.as_of, data)


def deliver_due(
    engine: Engine,
    pipeline: Pipeline,
    *,
    renderer: Renderer,
    output: Sender,
    settings: Settings,
    as_of: datetime,
    limit: int,
    options: DeliveryOptions,
    enrich: Enricher | None = None,
    after_id: int = 0,
    until_id: int | None = None,
) -> Tally:
    """Every touchpoint due at `as_of` (with an id in (after_id, until_id]), batch after batch,
    without Prefect: a delivery partition's loop, and the tests'. A flow runs each batch as a
    task of its own instead (`flows/pipeline.py`)."""
    tally: Tally = {}
    cursor: int | None = after_id
    while cursor is not None:
        cursor, more = deliver_batch(
            engine,
            pipeline,
            renderer=renderer,
            output=output,
            settings=settings,
            as_of=as_of,
            after_id=cursor,
            limit=limit,
            options=options,
            enrich=enrich,
            until_id=until_id,
        )
        add_tally(tally, more)
    return tally


def _describe_output(output: Sender) -> str:
    name = getattr(output, "_block_document_name", None)
    return f"{type(output).__name__}/{name}" if name else type(output).__name__


def _enriched(enrich: Enricher, fields: list[dict]) -> list[dict]:
    amended = enrich(fields)
    if not isinstance(amended, list) or len(amended) != len(fields):
        raise TypeError(f"enricher {enrich!r} must return a list of {len(fields)} field dicts")
    return amended


def _deliver_one(
    row: TouchpointRow,
    message: Message | Outcome,
    output: Sender,
    options: DeliveryOptions,
    lease: Lease,
    sending: Sending,
    as_of: datetime,
) -> tuple[Outcome | None, "Answer"]:
    """The touchpoint's outcome (None: another run holds it now, so it is not ours to send
    or record), and how the send ended (`Answer`). Runs on a sending thread."""
    if isinstance(message, Outcome):  # its template could not be rendered
        return message, Answer.not_reached
    if row.email_problem and message.to_email == row.email:
        # retried by every run, using no attempt, until the provider sends a real address
        why = f"{row.email_problem}; correct it at the payment provider"
        return Outcome(Status.failed, row.attempts, error=why[:1000]), Answer.not_reached
    for _ in range(options.max_throttled):
        sending.pacer.wait()
        with sending.gate():
            if not lease.holds(row.touchpoint_id):  # checked last, just before the send
                return None, Answer.not_reached
            started = time.monotonic()
            sent = _send(output, message)
            sending.took(time.monotonic() - started)
        if sent.retry_after is None:
            break
        sending.pacer.pause(sent.retry_after)  # every thread waits: the receiver is saturated
    if sent.error is None:
        receipt = sent.receipt.detail[:1000]
        return Outcome(
            Status.sent, row.attempts + 1, sent_at=datetime.now(UTC), receipt=receipt
        ), Answer.sent
    if sent.output_down or sent.retry_after is not None:  # not the member's message
        return Outcome(Status.failed, row.attempts, error=sent.error[:1000]), Answer.down
    if sent.permanent:  # the receiver refused this message for good: retrying changes nothing
        return Outcome(Status.dead, row.attempts + 1, error=sent.error[:1000]), Answer.refused
    return _failure(row, sent.error, options, retry_from=as_of), Answer.refused


def _dated(outcome: Outcome, as_of: datetime) -> Outcome:
    """A run for a later moment than now (a simulation, the demo) sends "at" that moment, so
    the contact cap and the analytics see the messages where the run put them; a backfill for
    an earlier moment sends now, and says so."""
    if outcome.sent_at is None or outcome.sent_at >= as_of:
        return outcome
    return replace(outcome, sent_at=as_of)


def _failure(
    row: TouchpointRow, reason: str, options: DeliveryOptions, retry_from: datetime | None = None
) -> Outcome:
    """The message spends an attempt; dead when it had its last. From `retry_from`, its next
    try waits (exponential backoff: docs/reliability.md); without, the next run tries it."""
    attempts = row.attempts + 1
    if attempts >= options.max_attempts:
        return Outcome(Status.dead, attempts, error=reason[:1000])
    retry_at = retry_from + options.backoff(attempts) if retry_from else None
    return Outcome(Status.failed, attempts, error=reason[:1000], retry_at=retry_at)


def _spared(row: TouchpointRow, outcome: Outcome) -> Outcome:
    """The outcome of a message refused while the output itself was failing: it spends no
    attempt and the next run tries it (with the answer it got, for ops)."""
    return Outcome(Status.failed, row.attempts, error=outcome.error)
