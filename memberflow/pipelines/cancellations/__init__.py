"""Cancellation follow-up: a dignified confirmation at once, a win-back with the product's offer
14 days after access ends, a last "the door is open" at 60 days; for cancellations that failed
payments caused, a confirmation that says so with one link to restore. It stops the moment the
member comes back, and credits the comeback to the message that won it. Registered as the
`cancellations` pipeline in pyproject.toml."""

from memberflow.pipelines.cancellations.demo import outcome_summary
from memberflow.pipelines.cancellations.pipeline import (
    CancellationPipeline,
    sample_fields,
    step_infos,
)
from memberflow.plugin import DemoHooks, Registration

registration = Registration(
    name="cancellations",
    summary="A confirmation at once, a win-back at 14 days, the door open at 60; stops on return.",
    flow="flows.cancellations:cancellations",
    messages=lambda: [CancellationPipeline()],
    steps=step_infos,
    sample_fields=sample_fields,
    demo=DemoHooks(
        day="flows.demo.cancellations:day",
        summary=outcome_summary,
        summary_title="Cancellations, what the follow-up did, and who came back:",
    ),
    report="memberflow.pipelines.cancellations.results:report_sections",
    goal="memberflow.pipelines.cancellations.results:goal",
    order=30,
)
