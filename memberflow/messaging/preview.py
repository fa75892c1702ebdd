"""A dry run: what planning and delivery would do for new touchpoints, writing and sending
nothing. `memberflow run <pipeline> --dry-run` and the flows' `dry_run` parameter use it."""

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, Row

from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.settings import Settings
from memberflow.messaging import store
from memberflow.messaging.composing import compose, in_members_language, message_fields
from memberflow.messaging.messages import Message
from memberflow.messaging.planning import next_cursor, unplanned
from memberflow.messaging.protocols import DatePlanner, LinkMaker, Step, TouchpointRow
from memberflow.messaging.rendering import Renderer, TemplateProblem
from memberflow.messaging.store import Cursor, Selection
from memberflow.messaging.tally import Tally


def preview_batch(
    engine: Engine,
    pipeline: DatePlanner,
    step: Step,
    selection: Selection,
    *,
    renderer: Renderer,
    settings: Settings,
    as_of: datetime,
    since: datetime,
    channel: str,
    after: Cursor,
    limit: int,
    on_message: Callable[[Message], None] = lambda message: None,
) -> tuple[Cursor | None, Tally]:
    """What `plan_batch` + delivery would do for new touchpoints, writing and sending nothing."""
    with engine.connect() as conn:
        rows, planned = unplanned(
            conn,
            pipeline,
            step,
            selection,
            as_of=as_of,
            since=since,
            channel=channel,
            after=after,
            limit=limit,
        )
        full_rows = store.subscription_rows(conn, [plan["subscription_id"] for plan in planned])
    by_sub = {row.sub_id: row for row in full_rows}
    counts = Counter()
    for plan in planned:
        if plan["status"] == Status.expired:
            counts["would_expire"] += 1
            continue
        row, _ = in_members_language(
            step, _as_touchpoint_row(by_sub[plan["subscription_id"]], plan), renderer
        )
        try:
            fields = message_fields(pipeline, step, row, settings, _preview_link(settings))
            on_message(compose(pipeline, step, row, fields, renderer))
            counts["would_send"] += 1
        except TemplateProblem:
            counts["render_failed"] += 1
    return next_cursor(rows, limit), {step.name: counts}


def _preview_link(settings: Settings) -> LinkMaker:
    """A dry run sends nothing, so its links need not work: they show where they would lead."""
    return lambda member, purpose, data=None: (
        f"{settings.public_url.rstrip('/')}/{purpose}/(dry-run)"
    )


def _as_touchpoint_row(row: Row, plan: dict) -> TouchpointRow:
    """A candidate subscription shaped like a claimed touchpoint, for `compose`."""
    touchpoint = {name: plan[name] for name in ("key", "step", "anchor_at", "due_at", "attempts")}
    return TouchpointRow.from_mapping({**row._mapping, **touchpoint, "touchpoint_id": 0})
