"""Claims: which due touchpoints a run may take, taking them under its lease, and how the
work splits across workers. A claim is a lease the sender renews while it lives
(`memberflow.messaging.lease`): a dead sender's rows go back to the pool when it lapses."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from memberflow.messaging import store
from memberflow.messaging.pacing import Sending
from memberflow.messaging.protocols import Pipeline, TouchpointRow

LAPSE_MARGIN = 0.5  # seconds past a lease's end before its rows are surely claimable


@dataclass(frozen=True)
class DeliveryOptions:
    token: str
    # a claim is a lease the sender renews while it lives (memberflow.messaging.lease): a dead
    # sender's rows go back to the pool after this long
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    # a message refused in a way that may pass is tried again after this, then 4 times longer
    # each time (10 min, 40 min, 2 h 40, 10 h 40), never more than a day later
    retry_backoff: timedelta = timedelta(minutes=10)
    # after this many different messages refused in a row, no success between them, the output
    # is failing, not the messages: stop sending to it for the run (the rest stay pending).
    # Above a handful, so a few bad messages side by side do not trip it
    breaker_after: int = 5
    # messages in flight at once; None: the output's own `concurrency` (1 if it has none)
    concurrency: int | None = None
    # how often one message may be put back because the receiver asked us to slow down (429)
    max_throttled: int = 8
    # the run's pace and window across batches; None: each batch starts afresh
    sending: Sending | None = None
    # only messages planned for this channel (the output's); None: every channel
    channel: str | None = None

    def backoff(self, attempts: int) -> timedelta:
        """How long a message refused `attempts` times waits for its next try."""
        return min(self.retry_backoff * 4 ** (attempts - 1), timedelta(days=1))


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


def claim_batch(
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
