"""Feedback surveys, the pure part: the exit survey after a cancellation and the satisfaction
survey (NPS) at tenures, when each falls due, the reasons members can give and how providers'
own reason codes map onto them. No database, no Prefect."""

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from memberflow.core.schedule import due_at, local_date

PIPELINE = "surveys"


class SurveyStep(BaseModel):
    """One survey invitation: `days` after the cancellation (exit) or after the member started
    (nps, at that tenure)."""

    name: str = Field(description="Unique step name; part of every idempotency key.")
    survey: Literal["exit", "nps"]
    days: int = Field(ge=0, le=3650, description="Days after the cancellation, or tenure days.")
    local_hour: int = Field(10, ge=0, le=23, description="Hour in the member's time zone.")
    lateness_hours: int = Field(72, ge=0, description="How late it may still be sent.")

    @property
    def kind(self) -> str:
        # the exit survey is part of the cancellation (no consent needed, never after an
        # unsubscribe); asking an active member for a score is marketing
        return "feedback" if self.survey == "exit" else "marketing"

    @property
    def lateness(self) -> timedelta:
        return timedelta(hours=self.lateness_hours)

    @property
    def template_name(self) -> str:
        return f"{PIPELINE}/{self.survey}"

    def due(self, anchor: datetime, tz: ZoneInfo) -> datetime:
        return due_at(anchor, -self.days, tz, self.local_hour)

    def describe(self) -> str:
        hour = f"{self.local_hour:02d}:00 local"
        if self.survey == "exit":
            return f"{self.days} day(s) after a cancellation, {hour}"
        return f"at {self.days} days of membership, {hour}"


class SurveyPlan(BaseModel):
    """When to ask: the exit survey's delay, the satisfaction survey's tenures."""

    exit_after_days: int = Field(1, ge=0, le=60, description="Days after a cancellation.")
    nps_first_days: int = Field(90, ge=1, description="Tenure of the first satisfaction survey.")
    nps_every_days: int = Field(180, ge=30, description="Then again every so many days.")
    nps_rounds: int = Field(10, ge=0, le=40, description="How many satisfaction surveys at most.")
    nps_products: list[str] | None = Field(
        None, description="Only these products' members get satisfaction surveys; empty: all."
    )

    def steps(self) -> list[SurveyStep]:
        exit_step = SurveyStep(name="exit_survey", survey="exit", days=self.exit_after_days)
        tenures = [self.nps_first_days + n * self.nps_every_days for n in range(self.nps_rounds)]
        nps = [
            SurveyStep(name=f"nps_{days}d", survey="nps", days=days, lateness_hours=7 * 24)
            for days in tenures
        ]
        return [exit_step, *nps]


def survey_key(
    step: SurveyStep, subscription_external_id: str, anchor: datetime, tz: ZoneInfo
) -> str:
    """One answer per member and survey: the exit survey of one cancellation, or the
    satisfaction survey of one tenure."""
    if step.survey == "exit":
        return f"exit:{subscription_external_id}:{local_date(anchor, tz).isoformat()}"
    return f"nps:{subscription_external_id}:{step.days}d"


class SurveyOffer(BaseModel):
    """What the survey page shows a member who left because it was too expensive."""

    code: str = Field(description="The code to enter.")
    description: str = Field(description="What it gives, in the member's words: 'a free month'.")
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="The same in other languages: {'fr': 'un mois offert'}."
    )
