"""The cancel moment: a signed "manage or cancel" page per member and subscription, with at most
one honest alternative, whose decisions are recorded first and then carried out at the provider
by its flow. Registered as `cancel_moment` in pyproject.toml."""

from memberflow.pipelines.cancel_moment.tickets import (
    PIPELINE,
    TicketPipeline,
    sample_fields,
    step_infos,
)
from memberflow.plugin import DemoHooks, Registration

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
    demo=DemoHooks(
        day="flows.demo.cancel_moment:day",
        summary=lambda engine: _demo_summary(engine),
        summary_title="The cancel page:",
    ),
    order=35,  # after the cancellation follow-up: it hears of today's decisions tomorrow
)


def _demo_summary(engine):
    from memberflow.pipelines.cancel_moment.demo import demo_summary  # the page's, lazily

    return demo_summary(engine)
