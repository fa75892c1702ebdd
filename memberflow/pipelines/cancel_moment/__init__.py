"""The cancel moment: a signed "manage or cancel" page per member and subscription, with at most
one honest alternative, whose decisions are recorded first and then carried out at the provider
by its flow. Registered as `cancel_moment` in pyproject.toml."""

from memberflow.pipelines.cancel_moment.tickets import (
    PIPELINE,
    TicketPipeline,
    sample_fields,
    step_infos,
)
from memberflow.plugin import Registration

registration = Registration(
    name=PIPELINE,
    summary="The click-to-cancel page with one honest alternative, carried out at the provider.",
    flow="flows.cancel_moment:cancel_moment",
    messages=lambda: [TicketPipeline()],
    steps=step_infos,
    sample_fields=sample_fields,
    commands={"links": "memberflow.pipelines.cancel_moment.commands:links_app"},
    routers=["memberflow.pipelines.cancel_moment.web:router"],
    report="memberflow.pipelines.cancel_moment.report:report_sections",
    order=50,
)
