"""Delivering every due touchpoint of a pipeline the way a flow does, without Prefect."""

from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging.claims import DeliveryOptions
from memberflow.messaging.delivery import deliver_due, new_token
from memberflow.messaging.planning import plan_batch
from memberflow.messaging.protocols import PlanningWindow
from memberflow.messaging.rendering import Renderer


def deliver_all(
    engine, settings: Settings, pipeline, output, as_of, limit: int = 50, **options
) -> dict:
    """Claims and sends everything due at `as_of`, batch by batch; returns the tally.
    `options`: DeliveryOptions fields (lease, concurrency...)."""
    options = DeliveryOptions(**{"token": new_token(), **options})
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    tally = deliver_due(
        engine,
        pipeline,
        renderer=renderer,
        output=output,
        settings=settings,
        as_of=as_of,
        limit=limit,
        options=options,
    )
    output.close()
    return tally


def plan_all(engine, planner, as_of, since, channel: str = "email") -> None:
    """Plans every step's touchpoints due in (since, as_of], as a flow's planning pass does."""
    for step, selection in planner.selections(PlanningWindow(as_of, since)):
        cursor = selection.start
        while cursor is not None:
            cursor, _ = plan_batch(
                engine,
                planner,
                step,
                selection,
                as_of=as_of,
                since=since,
                channel=channel,
                after=cursor,
                limit=100,
            )
