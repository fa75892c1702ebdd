"""Dunning: decline-aware retries of a failed payment, a kind email per step, a person for
valuable members, a final action when retries run out. Registered as `dunning` in
pyproject.toml."""

from memberflow.pipelines.dunning.demo import outcome_summary
from memberflow.pipelines.dunning.notices import NoticePipeline, sample_fields, step_infos
from memberflow.plugin import DemoHooks, Registration

registration = Registration(
    name="dunning",
    summary="Failed payments: retries by decline reason, member emails, escalation, final action.",
    flow="flows.dunning:dunning",
    messages=lambda: [NoticePipeline(), NoticePipeline(for_ops=True)],
    steps=step_infos,
    sample_fields=sample_fields,
    demo=DemoHooks(
        day="flows.demo.dunning:day",
        summary=outcome_summary,
        summary_title="Failed renewals, by how they ended and which step ended them:",
    ),
    commands={"cases": "memberflow.pipelines.dunning.commands:cases_app"},
    goal="memberflow.pipelines.dunning.results:goal",
    forecast="memberflow.pipelines.dunning.results:forecast",
    provides={"failed_payment_after": "memberflow.pipelines.dunning.results:failed_payment_after"},
    order=20,
)
