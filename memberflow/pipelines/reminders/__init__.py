"""Billing reminders: a friendly notice before a renewal, an annual renewal, a trial end or a
card expiry, per product. Registered as the `reminders` pipeline in pyproject.toml."""

from memberflow.pipelines.reminders.pipeline import (
    ReminderPipeline,
    member_fields,
    sample_fields,
    step_infos,
)
from memberflow.plugin import DemoHooks, Registration

registration = Registration(
    name="reminders",
    summary="Renewal, annual renewal, trial-end and card-expiry notices, per product.",
    flow="flows.reminders:reminders",
    messages=lambda: [ReminderPipeline()],
    steps=step_infos,
    sample_fields=sample_fields,
    member_fields=member_fields,
    demo=DemoHooks(day="flows.demo.reminders:day"),
    report="memberflow.pipelines.reminders.results:report_sections",
    goal="memberflow.pipelines.reminders.results:goal",
    order=10,
)
