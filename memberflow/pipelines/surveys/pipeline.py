"""Feedback surveys as the engine sees them: the exit survey is planned from cancellations,
the satisfaction survey from members' start dates; each answer is a signed one-click link."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select

from memberflow.core.feedback import REASONS, SCORES
from memberflow.core.locales import offer_description
from memberflow.core.members import member_recipient
from memberflow.core.models import Subscription
from memberflow.core.schedule import zone
from memberflow.core.settings import Settings
from memberflow.pipelines.surveys.steps import (
    PIPELINE,
    SurveyPlan,
    SurveyStep,
    survey_key,
)
from memberflow.plugin import (
    SAMPLE_ANCHOR,
    LinkMaker,
    PlanningWindow,
    Selection,
    StepInfo,
    SubscriptionRow,
    TouchpointRow,
    sample_touchpoint,
)

subscription = Subscription.__table__
# what the member told the provider when they left: given, they are not asked again
TOLD_THE_PROVIDER = (subscription.c.cancel_feedback, subscription.c.cancel_comment)

LINK_PURPOSE = "survey"
LIVE = ("active", "trialing", "past_due")


@dataclass
class SurveyPipeline:
    plan: SurveyPlan = field(default_factory=SurveyPlan)
    # product -> {code, description, descriptions: {locale: description}}
    offers: dict[str, dict] = field(default_factory=dict)
    name: str = PIPELINE
    # the plan's steps, built once: `step_for` runs for every touchpoint delivered
    steps: list[SurveyStep] = field(init=False)

    def __post_init__(self) -> None:
        self.steps = self.plan.steps()

    def selections(self, window: PlanningWindow) -> list[tuple[SurveyStep, Selection]]:
        chosen = []
        for step in self.steps:
            # a step due in (earliest, as_of] counts `days` from an anchor a day either side
            low = window.start(step) - timedelta(days=step.days + 1)
            high = window.as_of - timedelta(days=step.days - 1)
            if step.survey == "exit":
                chosen.append((step, Selection("canceled_at", low, high)))
            else:
                chosen.append(
                    (step, Selection("started_at", low, high, products=self.plan.nps_products))
                )
        return chosen

    def extend_plan(self, query: Select) -> Select:
        """Whether the member told the provider why they left: then no exit survey."""
        return query.add_columns(*TOLD_THE_PROVIDER)

    def extend_claim(self, query: Select) -> Select:
        """The same, again at send time: they may have told it since."""
        return query.add_columns(*TOLD_THE_PROVIDER)

    def anchor_for(self, step: SurveyStep, row: SubscriptionRow) -> datetime | None:
        if step.survey == "exit":
            leaving = row.status == "canceled" or row.cancel_at_period_end
            # a member who told the provider why is not asked again (the answer is recorded)
            told = row.cancel_feedback or row.cancel_comment
            return row.canceled_at if leaving and not told else None
        staying = row.status in ("active", "trialing") and not row.cancel_at_period_end
        return row.started_at if staying else None

    def due(self, step: SurveyStep, anchor: datetime, tz: ZoneInfo) -> datetime:
        return step.due(anchor, tz)

    def step_for(self, row: TouchpointRow) -> SurveyStep | None:
        return next((step for step in self.steps if step.name == row.step), None)

    def skip_reason(self, step: SurveyStep, row: TouchpointRow) -> str | None:
        extra = row.extra
        if step.survey == "exit":
            if row.status in LIVE and not extra.get("cancel_at_period_end"):
                return "the member came back"
            if extra.get("cancel_feedback") or extra.get("cancel_comment"):
                return "the member gave their reason at the provider"
        elif row.status not in ("active", "trialing") or extra.get("cancel_at_period_end"):
            return "no longer an active member"
        return None

    def fields(self, step: SurveyStep, row: TouchpointRow, settings: Settings) -> dict:
        return {
            "first_name": row.first_name or "",
            "last_name": row.last_name or "",
            "product_name": row.product_name,
        }

    def signed_fields(self, step: SurveyStep, row: TouchpointRow, link: LinkMaker) -> dict:
        return answer_links(step, row, link, self.offers.get(row.product_external_id))

    def recipient(self, row: TouchpointRow, fields: dict) -> tuple[str, str]:
        return member_recipient(row)


def answer_links(step: SurveyStep, row: TouchpointRow, link: LinkMaker, offer: dict | None) -> dict:
    """One signed link per answer, bound to the member, the survey and the answer."""
    key = survey_key(step, row.sub_external_id, row.anchor_at, zone(row.time_zone))

    def url(answer: str) -> str:
        data = {"k": key, "s": step.survey, "a": answer}
        if answer == "too_expensive" and offer:
            data["o"] = {"c": offer["code"], "d": offer_description(offer, row.locale or "en")}
        return link(row.member_external_id, LINK_PURPOSE, data)

    if step.survey == "exit":
        return {"reason_urls": {reason: url(reason) for reason in REASONS}}
    return {"score_urls": [url(score) for score in SCORES]}


def sample_fields(settings: Settings) -> dict[str, dict]:
    """Merge fields for each template, for `templates lint` and previews."""
    row = sample_touchpoint(anchor_at=SAMPLE_ANCHOR)
    base = f"{settings.public_url}/{LINK_PURPOSE}"
    samples = {}
    for step in SurveyPlan().steps()[:2]:  # the exit survey, the first satisfaction survey
        fields = SurveyPipeline().fields(step, row, settings)
        fields |= answer_links(step, row, lambda m, p, data: f"{base}/{data['a']}", None)
        fields["unsubscribe_url"] = f"{settings.public_url}/unsubscribe/x"
        samples[step.template_name] = fields
    return samples


def step_infos(plan: SurveyPlan | None = None) -> list[StepInfo]:
    steps = (plan or SurveyPlan()).steps()
    shown = steps[:3] + ([steps[-1]] if len(steps) > 3 else [])
    return [
        StepInfo(step.name, step.describe(), f"member ({step.kind})", step.template_name)
        for step in shown
    ]
