"""SQL for the engine. Large selections come back as Core rows, never ORM objects (5x faster)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)

from memberflow.core.db import Prepared, UTCDateTime, dialect_insert
from memberflow.core.models import (
    OPEN,
    Member,
    PlanningWatermark,
    Product,
    Subscription,
    Touchpoint,
    TouchpointStatus,
)
from memberflow.messaging.outbox import RETRYABLE

member, product = Member.__table__, Product.__table__
subscription, touchpoint = Subscription.__table__, Touchpoint.__table__
watermark = PlanningWatermark.__table__


@dataclass(frozen=True)
class Selection:
    """Subscriptions whose `column` lies in [low, high], limited to some products.

    `column` names a subscription column, or is a column of the pipeline's own table, which
    its `extend_plan` joins (one row per subscription). Either way it must be indexed:
    planning walks the range in (column, subscription id) order.
    """

    column: str | ColumnElement
    low: datetime | date
    high: datetime | date
    products: Sequence[str] | None = None  # only these product external ids
    excluded_products: Sequence[str] = ()

    @property
    def start(self) -> "Cursor":
        return (self.low, 0)

    @property
    def ordered_by(self) -> ColumnElement:
        if isinstance(self.column, str):
            return subscription.c[self.column]
        return self.column


Cursor = tuple[datetime | date, int]  # (anchor column value, subscription id) of the last row
SELECTED = "selected_value"  # the selection's column on each candidate row: the cursor's value


# What planning reads of a subscription: its anchors, its status, its member's zone.
_PLANNING_COLUMNS = (
    subscription.c.id.label("sub_id"),
    subscription.c.external_id.label("sub_external_id"),
    subscription.c.status,
    subscription.c.interval,
    subscription.c.current_period_end,
    subscription.c.trial_end,
    subscription.c.pause_resumes_at,
    subscription.c.card_exp_month,
    subscription.c.card_exp_year,
    subscription.c.card_valid_until,
    subscription.c.started_at,
    subscription.c.canceled_at,
    subscription.c.cancel_at_period_end,
    member.c.time_zone,
)


def _subscription_view():
    """One row per subscription with everything its messages need: planning's columns and more."""
    return (
        select(
            *_PLANNING_COLUMNS,
            subscription.c.amount_minor,
            subscription.c.currency,
            subscription.c.card_last4,
            member.c.id.label("member_id"),
            member.c.external_id.label("member_external_id"),
            member.c.marketing_consent,
            member.c.unsubscribed_at,
            member.c.erased_at,
            member.c.email,
            member.c.email_problem,
            member.c.first_name,
            member.c.last_name,
            member.c.locale,
            member.c.billing_address,
            member.c.shipping_address,
            product.c.external_id.label("product_external_id"),
            product.c.name.label("product_name"),
            product.c.value_amplifier,
            product.c.default_locale.label("product_locale"),
            product.c.translations.label("product_translations"),
        )
        .join(member, member.c.id == subscription.c.member_id)
        .join(product, product.c.id == subscription.c.product_id)
    )


def select_candidates(
    conn: Connection,
    selection: Selection,
    after: Cursor,
    limit: int,
    extend: Callable[[Select], Select] | None = None,
) -> list[Row]:
    """The next `limit` subscriptions of a selection after the cursor, in (column, id) order;
    `extend` (a planner's `extend_plan`) adds the joins and columns it plans on.

    Two index seeks, never a scan: first the rest of the cursor's own anchor value by id (one
    import or one renewal time can give thousands of equal values), then the later values. A
    single `(column, id) > cursor` condition made SQLite walk each clump from its start.
    """
    column, value, last_id = selection.ordered_by, *after
    same_value = _candidates(selection, extend, column == value, subscription.c.id > last_id)
    rows = list(conn.execute(same_value.order_by(subscription.c.id).limit(limit)))
    if len(rows) < limit:
        later = _candidates(selection, extend, column > value, column <= selection.high)
        rows += conn.execute(later.order_by(column, subscription.c.id).limit(limit - len(rows)))
    return rows


def _candidates(selection: Selection, extend: Callable[[Select], Select] | None, *conditions):
    """Planning's narrow read; rendering reads the whole row later, at claim time. Narrow is
    twice as fast over a large selection (docs/performance.md)."""
    query = (
        select(*_PLANNING_COLUMNS, selection.ordered_by.label(SELECTED))
        .join(member, member.c.id == subscription.c.member_id)
        .where(*conditions)
    )
    if selection.products is not None or selection.excluded_products:
        query = query.join(product, product.c.id == subscription.c.product_id)
    if selection.products is not None:
        query = query.where(product.c.external_id.in_(selection.products))
    if selection.excluded_products:
        query = query.where(product.c.external_id.not_in(selection.excluded_products))
    return extend(query) if extend is not None else query


def subscription_rows(conn: Connection, subscription_ids: Sequence[int]) -> list[Row]:
    """Whole rows (member, product and all) for these subscription ids."""
    return list(conn.execute(_subscription_view().where(subscription.c.id.in_(subscription_ids))))


def existing_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    return set(conn.execute(select(touchpoint.c.key).where(touchpoint.c.key.in_(keys))).scalars())


def _claimable(pipeline: str, as_of: datetime, stale_before: datetime, channel: str | None):
    """Due touchpoints nobody is sending now (a claim older than `stale_before` was abandoned),
    planned for `channel` (None: any): an output sends only its own channel's messages, so two
    deployments of one pipeline (email, and a CRM webhook) never take each other's."""
    return and_(
        touchpoint.c.pipeline == pipeline,
        *([touchpoint.c.channel == channel] if channel is not None else []),
        touchpoint.c.status.in_(OPEN),  # the partial index's own condition, so it is used
        touchpoint.c.due_at <= as_of,
        or_(
            and_(
                touchpoint.c.status.in_(RETRYABLE),
                # a failed message waits for its next try: it never stands before the rest
                or_(touchpoint.c.next_attempt_at.is_(None), touchpoint.c.next_attempt_at <= as_of),
            ),
            touchpoint.c.claimed_at < stale_before,
        ),
    )


def claimable_id_range(
    conn: Connection,
    pipeline: str,
    as_of: datetime,
    stale_before: datetime,
    channel: str | None = None,
) -> tuple[int, int] | None:
    """The lowest and highest claimable id, to split a delivery into partitions."""
    query = select(func.min(touchpoint.c.id), func.max(touchpoint.c.id)).where(
        _claimable(pipeline, as_of, stale_before, channel)
    )
    low, high = conn.execute(query).one()
    return None if low is None else (low, high)


def count_claimable(
    conn: Connection,
    pipeline: str,
    as_of: datetime,
    stale_before: datetime,
    channel: str | None = None,
) -> int:
    query = select(func.count()).where(_claimable(pipeline, as_of, stale_before, channel))
    return conn.execute(query).scalar_one()


def next_claimable_ids(
    conn: Connection,
    *,
    pipeline: str,
    as_of: datetime,
    stale_before: datetime,
    after_id: int,
    limit: int,
    until_id: int | None = None,
    channel: str | None = None,
) -> list[int]:
    """The next claimable ids after `after_id` (up to `until_id`, a partition's end). On
    PostgreSQL, rows another worker is claiming this instant are skipped (`FOR UPDATE SKIP
    LOCKED`): workers sharing a day take disjoint batches instead of racing for the same rows."""
    bounds = [touchpoint.c.id > after_id]
    if until_id is not None:
        bounds.append(touchpoint.c.id <= until_id)
    query = (
        select(touchpoint.c.id)
        .where(_claimable(pipeline, as_of, stale_before, channel), *bounds)
        .order_by(touchpoint.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


def claim(
    conn: Connection,
    *,
    ids: Sequence[int],
    pipeline: str,
    as_of: datetime,
    token: str,
    now: datetime,
    stale_before: datetime,
    extend: Callable[[Select], Select] | None = None,
    channel: str | None = None,
) -> list[Row]:
    """Atomically takes the still-claimable touchpoints among `ids` for this run.

    The conditional UPDATE is what makes two racing runs safe: a row is claimed by one of them.
    Returns the claimed touchpoints joined with their subscription's current state, plus what
    `extend` adds to the query (a pipeline's own joins and columns).
    """
    claimed = and_(touchpoint.c.id.in_(ids), _claimable(pipeline, as_of, stale_before, channel))
    conn.execute(
        update(touchpoint)
        .where(claimed)
        .values(status=TouchpointStatus.sending, claimed_by=token, claimed_at=now)
    )
    query = (
        _subscription_view()
        .add_columns(
            touchpoint.c.id.label("touchpoint_id"),
            touchpoint.c.key,
            touchpoint.c.step,
            touchpoint.c.anchor_at,
            touchpoint.c.due_at,
            touchpoint.c.attempts,
            touchpoint.c.context,
            touchpoint.c.error.label("last_error"),
        )
        .join(touchpoint, touchpoint.c.subscription_id == subscription.c.id)
        .where(
            touchpoint.c.id.in_(ids),  # this batch's: a run may hold other batches' too
            touchpoint.c.claimed_by == token,
            touchpoint.c.status == TouchpointStatus.sending,
        )
        .order_by(touchpoint.c.id)
    )
    return list(conn.execute(extend(query) if extend else query))


def renew_claims(conn: Connection, *, token: str, ids: Sequence[int], now: datetime) -> set[int]:
    """Moves this run's claim on `ids` to `now` (its lease), for those it still holds and has
    not finished; returns them."""
    statement = (
        update(touchpoint)
        .where(
            touchpoint.c.id.in_(ids),
            touchpoint.c.claimed_by == token,
            touchpoint.c.status == TouchpointStatus.sending,
        )
        .values(claimed_at=now)
        .returning(touchpoint.c.id)
    )
    return set(conn.execute(statement).scalars())


def claims_of_others(
    conn: Connection, pipeline: str, as_of: datetime, token: str, channel: str | None = None
) -> tuple[int, datetime | None]:
    """How many due touchpoints other runs hold now, and the oldest of their leases."""
    query = select(func.count(), func.min(touchpoint.c.claimed_at)).where(
        touchpoint.c.pipeline == pipeline,
        *([touchpoint.c.channel == channel] if channel is not None else []),
        touchpoint.c.status == TouchpointStatus.sending,
        touchpoint.c.due_at <= as_of,
        touchpoint.c.claimed_by != token,
    )
    count, oldest = conn.execute(query).one()
    return count, oldest


def recent_sends(
    conn: Connection, member_ids: Sequence[int], since: datetime
) -> dict[int, list[datetime]]:
    """When each of these members was sent anything, by any pipeline, since `since`."""
    if not member_ids:
        return {}
    query = (
        select(subscription.c.member_id, touchpoint.c.sent_at)
        .join(subscription, subscription.c.id == touchpoint.c.subscription_id)
        .where(
            subscription.c.member_id.in_(member_ids),
            touchpoint.c.status == TouchpointStatus.sent,
            touchpoint.c.sent_at > since,
        )
    )
    found: dict[int, list[datetime]] = {member_id: [] for member_id in member_ids}
    for member_id, sent_at in conn.execute(query):
        found[member_id].append(sent_at)
    return found


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed touchpoint."""

    status: TouchpointStatus
    attempts: int
    error: str | None = None
    sent_at: datetime | None = None
    receipt: str | None = None
    experiment: str | None = None  # the experiment it was in, and its variant there
    variant: str | None = None
    retry_at: datetime | None = None  # failed: no run tries it again before then


# Built once, all values bound, run on the driver on SQLite: recording an outcome is the hottest
# write (once per message sent); a lone autocommitting UPDATE is atomic and durable (WAL) and
# costs 45 us against 143 us through SQLAlchemy's execute and commit (docs/performance.md).
_RECORD = Prepared(
    update(touchpoint)
    .where(
        touchpoint.c.id == bindparam("touchpoint_id"), touchpoint.c.claimed_by == bindparam("token")
    )
    .values(
        claimed_by=None,
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        error=bindparam("new_error"),
        sent_at=bindparam("new_sent_at", type_=UTCDateTime()),
        receipt=bindparam("new_receipt"),
        experiment=bindparam("new_experiment"),
        variant=bindparam("new_variant"),
        next_attempt_at=bindparam("new_next_attempt_at", type_=UTCDateTime()),
    )
)


def record_outcome(conn: Connection, *, touchpoint_id: int, token: str, outcome: Outcome) -> None:
    """Writes one touchpoint's outcome, only while this run still holds its claim.

    Call it outside a transaction and it is durable when it returns (then `commit` is a no-op).
    """
    params = {
        "touchpoint_id": touchpoint_id,
        "token": token,
        "new_status": outcome.status.value,
        "new_attempts": outcome.attempts,
        "new_error": outcome.error,
        "new_sent_at": outcome.sent_at,
        "new_receipt": outcome.receipt,
        "new_experiment": outcome.experiment,
        "new_variant": outcome.variant,
        "new_next_attempt_at": outcome.retry_at,
    }
    _RECORD(conn, params)


def member_subscription_rows(conn: Connection, member_external_id: str) -> list[Row]:
    query = _subscription_view().where(member.c.external_id == member_external_id)
    return list(conn.execute(query.order_by(subscription.c.id)))


def planned_through(conn: Connection, *, pipeline: str) -> datetime | None:
    """The `as_of` of the pipeline's last completed planning pass, if any."""
    query = select(watermark.c.planned_through).where(watermark.c.pipeline == pipeline)
    return conn.execute(query).scalar_one_or_none()


def advance_watermark(conn: Connection, *, pipeline: str, as_of: datetime) -> None:
    """Moves the watermark to `as_of`, never back (a backfill of an earlier day leaves it)."""
    now = datetime.now(UTC)
    statement = dialect_insert(conn, watermark).values(
        pipeline=pipeline, planned_through=as_of, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["pipeline"],
        set_={"planned_through": as_of, "updated_at": now},
        where=watermark.c.planned_through < as_of,
    )
    conn.execute(statement)
