"""The touchpoint engine every pipeline shares: plan, claim, re-check, render, send, record.

Exactly once, by construction: a touchpoint is inserted under a unique key before anything is
sent; a run claims it with a conditional UPDATE; it is marked sent right after the output
accepts it. The one open window is a crash between an output's success and that UPDATE; the
message then carries the key (Message-ID, Idempotency-Key) so the receiver can drop the repeat.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from queue import SimpleQueue
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Row

from memberflow.core.links import link_secret, member_link
from memberflow.core.locales import product_words
from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import Timing, local_date, timing, zone
from memberflow.core.settings import Settings
from memberflow.messaging import store
from memberflow.messaging.cap import HELD_BY_CAP, within_cap
from memberflow.messaging.consent import ContactCap, consent_reason, kind_of
from memberflow.messaging.experiments import Assignment, hold_out
from memberflow.messaging.lease import Lease
from memberflow.messaging.messages import DeliveryError, Message, Receipt
from memberflow.messaging.pacing import Sending
from memberflow.messaging.protocols import DatePlanner, Pipeline, SignsLinks, Step, TouchpointRow
from memberflow.messaging.rendering import Renderer, TemplateProblem, business_fields
from memberflow.messaging.store import Cursor, Outcome, Selection

Tally = dict[str, Counter]  # step name -> counts per outcome
Job = tuple[Step, TouchpointRow, dict]  # a message to send: its step, row and merge fields
# Besides steps, a tally may hold these (never step names): why messages failed, one count per
# reason; and why the output itself was failing, when delivery stopped sending to it.
FAILURE_REASONS = "!failures"
OUTPUT_FAILING = "!output failing"
LANGUAGE_FALLBACKS = "!language fallbacks"  # members who got another language than theirs
LAPSE_MARGIN = 0.5  # seconds past a lease's end before its rows are surely claimable
THROTTLED = "!throttled"  # outputs that asked us to slow down (HTTP 429), and how often
# While sends overlap, a batch whose rows have all gone out claims more for this long: each
# batch's end waits for its last answers (about one latency), so it should come seldom
TOP_UP_SECONDS = 10.0
Enricher = Callable[[list[dict]], list[dict]]  # a batch's merge fields in, amended fields out
LinkMaker = Callable[..., str]  # (member external id, purpose, data=None) -> signed URL


class Output(Protocol):
    channel: str

    def send(self, message: Message) -> Receipt: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DeliveryOptions:
    token: str
    # a claim is a lease the sender renews while it lives (memberflow.messaging.lease): a dead
    # sender's rows go back to the pool after this long
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    # after this many output failures in a row, stop sending to it: the rest stay pending
    breaker_after: int = 3
    # messages in flight at once; None: the output's own `concurrency` (1 if it has none)
    concurrency: int | None = None
    # how often one message may be put back because the receiver asked us to slow down (429)
    max_throttled: int = 8
    # the run's pace and window across batches; None: each batch starts afresh
    sending: Sending | None = None
    # only messages planned for this channel (the output's); None: every channel
    channel: str | None = None


def touchpoint_key(pipeline: str, step: str, entity: str, anchor_day: date, channel: str) -> str:
    """`pipeline:step:entity:anchor-date:channel`, the entity being what the message is about
    (a subscription, an invoice): the same for any rerun, retry or race."""
    return f"{pipeline}:{step}:{entity}:{anchor_day.isoformat()}:{channel}"


def new_touchpoint(
    *,
    pipeline: str,
    step: str,
    entity: str,
    channel: str,
    subscription_id: int,
    anchor_at: datetime,
    tz: ZoneInfo,
    due_at: datetime,
    status: Status = Status.pending,
    **columns: object,
) -> dict:
    """The outbox row of a touchpoint, its key derived from the domain (`touchpoint_key`)."""
    return {
        "key": touchpoint_key(pipeline, step, entity, local_date(anchor_at, tz), channel),
        "pipeline": pipeline,
        "step": step,
        "channel": channel,
        "subscription_id": subscription_id,
        "anchor_at": anchor_at,
        "due_at": due_at,
        "status": status,
        "attempts": 0,
        "created_at": datetime.now(UTC),
        **columns,
    }


def new_token() -> str:
    return uuid.uuid4().hex


def steps_of(tally: Tally) -> Tally:
    """The tally's steps only, without its notes on failures."""
    return {name: counts for name, counts in tally.items() if not name.startswith("!")}


def add_tally(total: Tally, more: Tally) -> Tally:
    for step, counts in more.items():
        total[step] = Counter(total.get(step, ())) + Counter(counts)
    return total


# -- planning --------------------------------------------------------------------------------


def window_start(step: Step, as_of: datetime, since: datetime) -> datetime:
    """The earliest due time a run at `as_of` still accounts for: everything since the last
    completed run, and at least the step's lateness (a subscription imported or moved since
    may owe a touchpoint that is late but still worth sending)."""
    return min(since, as_of - step.lateness)


def plan_rows(
    planner: DatePlanner,
    step: Step,
    rows: Iterable[Row],
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
) -> list[dict]:
    """Touchpoints these subscriptions owe at `as_of`: due ones pending, missed ones expired."""
    planned = []
    earliest = window_start(step, as_of, since)
    for row in rows:
        anchor = planner.anchor_for(step, row)
        if anchor is None:
            continue
        tz = zone(row.time_zone)
        due = planner.due(step, anchor, tz)
        when = timing(due, as_of, step.lateness)
        if when is Timing.not_yet or due < earliest:
            continue
        planned.append(
            new_touchpoint(
                pipeline=planner.name,
                step=step.name,
                entity=row.sub_external_id,
                channel=channel,
                subscription_id=row.sub_id,
                anchor_at=anchor,
                tz=tz,
                due_at=due,
                status=Status.expired if when is Timing.expired else Status.pending,
            )
        )
    return planned


def plan_batch(
    engine: Engine,
    pipeline: DatePlanner,
    step: Step,
    selection: Selection,
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[Cursor | None, Tally]:
    """Plans one batch of candidates; returns the cursor for the next batch (None when done)."""
    with engine.begin() as conn:
        rows = store.select_candidates(conn, selection, after, limit)
        planned = plan_rows(pipeline, step, rows, as_of=as_of, since=since, channel=channel)
        new_keys = set(store.insert_touchpoints(conn, planned))
    counts = Counter(
        "planned" if row["status"] == Status.pending else "expired"
        for row in planned
        if row["key"] in new_keys
    )
    return next_cursor(rows, selection, limit), {step.name: counts}


def unplanned(
    conn: Connection,
    planner: DatePlanner,
    step: Step,
    selection: Selection,
    *,
    as_of: datetime,
    since: datetime,
    channel: str,
    after: Cursor,
    limit: int,
) -> tuple[list[Row], list[dict]]:
    """One batch of candidates, and the touchpoints they owe that the outbox does not hold
    yet, writing nothing: what a dry run and a forecast look at."""
    rows = store.select_candidates(conn, selection, after, limit)
    planned = plan_rows(planner, step, rows, as_of=as_of, since=since, channel=channel)
    known = store.existing_keys(conn, [plan["key"] for plan in planned])
    return rows, [plan for plan in planned if plan["key"] not in known]


def next_cursor(rows: list[Row], selection: Selection, limit: int) -> Cursor | None:
    if len(rows) < limit:
        return None
    return getattr(rows[-1], selection.column), rows[-1].sub_id


# -- delivery --------------------------------------------------------------------------------


def decide(
    pipeline: Pipeline, step: Step | None, row: TouchpointRow, as_of: datetime
) -> tuple[Status, str] | None:
    """None to send now, else the status to record and why. Conditions are checked at send time."""
    if step is None:
        return Status.skipped, f"step {row.step!r} is no longer configured for this product"
    reason = pipeline.skip_reason(step, row) or consent_reason(kind_of(step), row)
    if reason is not None:
        return Status.skipped, reason
    if timing(row.due_at, as_of, step.lateness) is Timing.expired:
        late = f"more than {step.lateness} late at {as_of.isoformat()}"
        if (row.last_error or "").startswith(HELD_BY_CAP):  # the cap kept it until too late
            return Status.held, f"{HELD_BY_CAP} until it was {late}"
        return Status.expired, late
    return None


def message_fields(
    pipeline: Pipeline, step: Step, row: TouchpointRow, settings: Settings, link: LinkMaker
) -> dict:
    """The business's fields, the pipeline's (with its signed links, if it has any), and the
    member's unsubscribe link on what they may refuse."""
    fields = {**business_fields(settings), **pipeline.fields(step, row, settings)}
    if _signs_links(type(pipeline)):
        fields |= pipeline.signed_fields(step, row, link)
    if kind_of(step).unsubscribable:
        fields["unsubscribe_url"] = link(row.member_external_id, "unsubscribe")
    return fields


@cache
def _signs_links(pipeline_type: type) -> bool:
    # once per type: checking a runtime Protocol walks its attributes (about 30 us a message)
    return issubclass(pipeline_type, SignsLinks)


def in_members_language(
    step: Step, row: TouchpointRow, renderer: Renderer, template: str | None = None
) -> tuple[TouchpointRow, list[str]]:
    """The row as the message will be written: `locale` is the language chosen by the fallback
    chain, and the product's name and value amplifier are in it. With what the run should warn
    about (the member gets another language, or the product has no words in theirs)."""
    template = template or step.template_name
    choice = renderer.language(template, row.locale, row.product_locale)
    name, amplifier = product_words(
        choice.locale,
        asked=choice.asked,
        name=row.product_name,
        value_amplifier=row.value_amplifier,
        written_in=row.product_locale or renderer.default_locale,
        translations=row.product_translations,
    )
    notes = []
    if choice.fell_back:
        notes.append(f"{template} has no {choice.asked!r}: written in {choice.locale!r}")
    if row.value_amplifier and amplifier is None:
        notes.append(
            f"product {row.product_external_id!r} has no {choice.locale!r} value amplifier: "
            "left out (add a translation)"
        )
    if (choice.locale, name, amplifier) == (row.locale, row.product_name, row.value_amplifier):
        return row, notes  # as most are: no copy
    localized = replace(row, locale=choice.locale, product_name=name, value_amplifier=amplifier)
    return localized, notes


def compose(
    pipeline: Pipeline,
    step: Step,
    row: TouchpointRow,
    fields: dict,
    renderer: Renderer,
    assigned: Assignment | None = None,
) -> Message:
    """Renders the message a touchpoint stands for from its merge fields (the row as
    `in_members_language` gives it), as its experiment's variant words it if it is in one."""
    variant = assigned.variant if assigned else None
    template = (variant and variant.template) or step.template_name
    subjects = variant.subjects if variant else None
    rendered = renderer.render(template, row.locale, fields, subjects)
    to_email, to_name = pipeline.recipient(row, fields)
    return Message(
        key=row.key,
        pipeline=pipeline.name,
        step=row.step,
        to_email=to_email,
        to_name=to_name,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        fields=fields,
        unsubscribe_url=fields.get("unsubscribe_url"),
        locale=row.locale,
    )


@dataclass(frozen=True)
class Sent:
    """What one send came to: a receipt, or why not and whether the output itself is failing,
    or the pause the receiver asked for before the message is tried again."""

    receipt: Receipt | None = None
    error: str | None = None
    output_down: bool = False
    retry_after: float | None = None


def _send(output: Output, message: Message) -> Sent:
    try:
        return Sent(receipt=output.send(message))
    except DeliveryError as error:
        return Sent(None, str(error), error.output_down, error.retry_after)
    except Exception as error:  # a plugin's bug fails this touchpoint, not the whole run
        return Sent(error=f"{type(error).__name__} in {type(output).__name__}: {error}"[:500])


def deliver_batch(
    engine: Engine,
    pipeline: Pipeline,
    *,
    renderer: Renderer,
    output: Output,
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
    its `rate_limit`; the main thread records each outcome in its own commit as soon as the
    send is answered, so a crash can repeat only the messages in flight at that instant. While
    sends overlap, a batch whose rows have all gone out claims the next `limit` (for up to
    `TOP_UP_SECONDS`), so it waits for its last answers once rather than every `limit` rows.
    `enrich`, if given, sees the merge fields of every touchpoint about to be sent, once per
    `limit` rows, before rendering (the place for a CRM lookup); it returns them, amended. The
    output stays open: its connections (SMTP sessions, HTTP keep-alive, one per sending thread)
    serve the run's next batch too, and whoever made it closes it when the run is done.
    """
    started = time.monotonic()
    claimed, rows = _claim_batch(engine, pipeline, as_of, after_id, limit, options, until_id)
    sending = options.sending or Sending(getattr(output, "rate_limit", None))
    concurrency = options.concurrency or getattr(output, "concurrency", 1)
    failing: list[str] = []  # the output's own failures, in a row
    # One connection for the batch, one commit per touchpoint: an outcome is durable the moment
    # the output has accepted the message, which keeps the crash window to that instant.
    with engine.connect() as conn, Lease(engine, options.token, claimed, options.lease) as lease:
        batch = _Batch(conn, pipeline, renderer, settings, as_of, options)

        def jobs() -> Iterator[Job]:
            nonlocal claimed, rows
            while True:
                yield from batch.prepared(rows, enrich)
                topping_up = sending.window > 1 and not failing  # sends are in flight
                if not topping_up or len(claimed) < limit:
                    return
                if time.monotonic() - started > TOP_UP_SECONDS:
                    return
                claimed, rows = _claim_batch(
                    engine, pipeline, as_of, claimed[-1], limit, options, until_id
                )
                lease.extend(claimed)

        def deliver(job: Job) -> tuple[Outcome | None, bool]:
            step, row, row_fields = job
            place = batch.assigned.get(row.touchpoint_id)
            return _deliver_one(
                pipeline, step, row, row_fields, renderer, output, options, lease, sending, place
            )

        def output_failing() -> bool:
            return len(failing) >= options.breaker_after

        sends = _overlapping(jobs(), deliver, concurrency, sending, stop=output_failing)
        for (_, row, row_fields), (outcome, down) in sends:
            if outcome is None:  # another run took it over (our lease lapsed): it is theirs
                batch.count(row, "lost_claim")
                continue
            batch.record(row, _dated(outcome, as_of))
            if (
                outcome.status is Status.sent
                and pipeline.recipient(row, row_fields)[0] == row.email
            ):
                for note in batch.notes[row.touchpoint_id]:  # ops' own are not the member's
                    batch.tally.setdefault(LANGUAGE_FALLBACKS, Counter())[note] += 1
            failing = [*failing, outcome.error] if down else []
            if outcome.error and not down:
                batch.tally.setdefault(FAILURE_REASONS, Counter())[outcome.error] += 1
        for _, row, _ in sends.unsent:  # the output was failing: not hammered, tried next run
            why = f"not tried: the output is failing ({failing[-1]})"
            batch.record(row, Outcome(Status.pending, row.attempts, error=why[:1000]), "not_tried")
        if failing:  # the batch ended with the output itself failing: the run must say so
            batch.tally.setdefault(OUTPUT_FAILING, Counter())[failing[-1]] += len(failing)
        if sending.pacer.pauses:  # this batch's share of the run's pauses
            pauses, sending.pacer.pauses = sending.pacer.pauses, 0
            batch.tally.setdefault(THROTTLED, Counter())[_describe_output(output)] += pauses
    return (claimed[-1] if len(claimed) == limit else None), batch.tally


class _Batch:
    """What a delivery batch keeps on its connection (the main thread's): each outcome
    recorded in its own commit, the tally, and the checks every claimed row goes through
    before it may be sent."""

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
        self.conn.commit()
        self.count(row, counted or outcome.status.value)

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
    output: Output,
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
    task of its own instead (`flows/_compose.py`)."""
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


class _overlapping:
    """Runs `work` over `jobs` on up to `workers` threads, yielding (job, result) as each
    finishes, with no more in flight than the run's window (`Sending`); a result is healthy
    unless it says the output is failing. Once `stop()` is true no new job starts; those never
    started are left in `unsent`."""

    def __init__(
        self,
        jobs: Iterable,
        work: Callable,
        workers: int,
        sending: Sending,
        stop: Callable[[], bool],
    ):
        self.jobs, self.work, self.workers = jobs, work, max(1, workers)
        self.sending, self.stop = sending, stop
        self.unsent: list = []

    def __iter__(self):
        pending = iter(self.jobs)
        # a finished send puts its future here: waiting is O(1) per answer, where
        # `concurrent.futures.wait` would re-arm every future in flight each time
        finished: SimpleQueue[Future] = SimpleQueue()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="memberflow-send") as pool:
            running: dict[Future, object] = {}
            while True:
                if self.sending.window == 1 and not running:
                    # one at a time (a fast receiver, or a failing one): no thread hand-off
                    job = None if self.stop() else next(pending, None)
                    if job is None:
                        break
                    result = self.work(job)
                    self.sending.answered(not result[1], self.workers)
                    yield job, result
                    continue
                while len(running) < self.sending.window and not self.stop():
                    job = next(pending, None)
                    if job is None:
                        break
                    future = pool.submit(self.work, job)
                    running[future] = job
                    future.add_done_callback(finished.put)
                if not running:
                    break
                answered = [finished.get()]  # then every other answer already in: one wake-up
                while not finished.empty():
                    answered.append(finished.get_nowait())
                for future in answered:
                    result = future.result()
                    self.sending.answered(not result[1], self.workers)  # (outcome, down)
                    yield running.pop(future), result
        self.unsent = list(pending)


def _describe_output(output: Output) -> str:
    name = getattr(output, "_block_document_name", None)
    return f"{type(output).__name__}/{name}" if name else type(output).__name__


def partitions(
    engine: Engine, pipeline: Pipeline, as_of: datetime, options: DeliveryOptions, parts: int
) -> list[tuple[int, int]]:
    """The due touchpoints' ids split into up to `parts` ranges (after, until], one per worker."""
    with engine.connect() as conn:
        stale_before = datetime.now(UTC) - options.lease
        found = store.claimable_id_range(conn, pipeline.name, as_of, stale_before, options.channel)
    if found is None:
        return []
    low, high = found
    step = max(1, -(-(high - low + 1) // parts))
    return [(start - 1, min(start + step - 1, high)) for start in range(low, high + 1, step)]


def abandoned_wait(
    engine: Engine, pipeline: Pipeline, as_of: datetime, options: DeliveryOptions
) -> tuple[int, float]:
    """Due touchpoints other runs hold, and how many seconds until the oldest of those leases
    lapses if nobody renews it: a rerun right after a crash waits that long (about a minute),
    then takes the dead run's rows, instead of leaving them to the next scheduled run."""
    with engine.connect() as conn:
        count, oldest = store.claims_of_others(
            conn, pipeline.name, as_of, options.token, options.channel
        )
    if not count:
        return 0, 0.0
    lapses = oldest + options.lease - datetime.now(UTC)
    return count, max(0.0, lapses.total_seconds()) + LAPSE_MARGIN


def _claim_batch(
    engine: Engine,
    pipeline: Pipeline,
    as_of: datetime,
    after_id: int,
    limit: int,
    options: DeliveryOptions,
    until_id: int | None = None,
) -> tuple[list[int], list[TouchpointRow]]:
    now = datetime.now(UTC)
    stale_before = now - options.lease
    with engine.begin() as conn:
        ids = store.next_claimable_ids(
            conn,
            pipeline=pipeline.name,
            as_of=as_of,
            stale_before=stale_before,
            after_id=after_id,
            limit=limit,
            until_id=until_id,
            channel=options.channel,
        )
        rows = store.claim(
            conn,
            ids=ids,
            pipeline=pipeline.name,
            as_of=as_of,
            token=options.token,
            now=now,
            stale_before=stale_before,
            extend=getattr(pipeline, "extend_claim", None),
            channel=options.channel,
        )
    return ids, [TouchpointRow.from_mapping(dict(row._mapping)) for row in rows]


def _enriched(enrich: Enricher, fields: list[dict]) -> list[dict]:
    amended = enrich(fields)
    if not isinstance(amended, list) or len(amended) != len(fields):
        raise TypeError(f"enricher {enrich!r} must return a list of {len(fields)} field dicts")
    return amended


def _deliver_one(
    pipeline: Pipeline,
    step: Step,
    row: TouchpointRow,
    fields: dict,
    renderer: Renderer,
    output: Output,
    options: DeliveryOptions,
    lease: Lease,
    sending: Sending,
    assigned: Assignment | None = None,
) -> tuple[Outcome | None, bool]:
    """The touchpoint's outcome (None: another run holds it now, so it is not ours to send
    or record), and whether the output itself is failing. Runs on a sending thread."""
    try:
        message = compose(pipeline, step, row, fields, renderer, assigned)
    except TemplateProblem as problem:
        return _failure(row, f"template {problem}", options), False
    if row.email_problem and message.to_email == row.email:
        # retried by every run, using no attempt, until the provider sends a real address
        why = f"{row.email_problem}; correct it at the payment provider"
        return Outcome(Status.failed, row.attempts, error=why[:1000]), False
    for _ in range(options.max_throttled):
        sending.pacer.wait()
        with sending.gate():
            if not lease.holds(row.touchpoint_id):  # checked last, just before the send
                return None, False
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
        ), False
    if sent.output_down or sent.retry_after is not None:  # not the member's message
        return Outcome(Status.failed, row.attempts, error=sent.error[:1000]), True
    return _failure(row, sent.error, options), False


def _dated(outcome: Outcome, as_of: datetime) -> Outcome:
    """A run for a later moment than now (a simulation, the demo) sends "at" that moment, so
    the contact cap and the analytics see the messages where the run put them; a backfill for
    an earlier moment sends now, and says so."""
    if outcome.sent_at is None or outcome.sent_at >= as_of:
        return outcome
    return replace(outcome, sent_at=as_of)


def _failure(row: TouchpointRow, reason: str, options: DeliveryOptions) -> Outcome:
    attempts = row.attempts + 1
    status = Status.dead if attempts >= options.max_attempts else Status.failed
    return Outcome(status, attempts, error=reason[:1000])
