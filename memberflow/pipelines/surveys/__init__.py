"""Feedback surveys: a one-click exit survey the day after a cancellation (unless the member
already told the provider why), and a satisfaction survey (NPS) at tenures; every answer is a
signed link to a real page that records it on a POST only. Registered as `surveys` in
pyproject.toml."""

from memberflow.pipelines.surveys.commands import demo_summary
from memberflow.pipelines.surveys.pipeline import SurveyPipeline, sample_fields, step_infos
from memberflow.plugin import DemoHooks, Registration

registration = Registration(
    name="surveys",
    summary="A one-click exit survey after a cancellation, and NPS at tenures; results.",
    flow="flows.surveys:surveys",
    messages=lambda: [SurveyPipeline()],
    steps=step_infos,
    sample_fields=sample_fields,
    demo=DemoHooks(
        day="flows.demo.surveys:day",
        summary=demo_summary,
        summary_title="Survey results:",
    ),
    commands={"surveys": "memberflow.pipelines.surveys.commands:surveys_app"},
    routers=["memberflow.pipelines.surveys.web:router"],
    report="memberflow.pipelines.surveys.report:report_sections",
    goal="memberflow.pipelines.surveys.records:goal",
    order=40,
)
