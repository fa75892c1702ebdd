"""The outbox's rows as a pipeline makes them: every touchpoint under a key derived from the
domain, so a rerun, a retry or a race makes the same one (and the insert adds nothing)."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import local_date


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
