"""Survey invitations on a real database, day by day: the exit survey the day after a
cancellation unless the member told the provider why, the satisfaction survey at tenures."""

from datetime import timedelta

from sqlmodel import Session, select

from memberflow.core.models import SurveyResponse
from memberflow.pipelines.surveys.pipeline import SurveyPipeline
from memberflow.pipelines.surveys.steps import SurveyPlan
from tests.support.cancellations import cancel, set_member, touchpoints
from tests.support.clock import at
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder
from tests.support.surveys import links, survey_day


def days(engine, settings, out, first, last, pipeline=None):
    for n in range(first, last + 1):
        survey_day(engine, settings, at("2026-12-01 10:00") + timedelta(days=n), out, pipeline)


def test_the_exit_survey_goes_the_day_after_with_one_link_per_reason(engine, settings):
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    cancel(engine, "s1", at("2026-12-01 09:00"))  # no marketing consent: it is not marketing
    out = Recorder()
    days(engine, settings, out, 0, 5)
    [invitation] = out.sent
    assert invitation.step == "exit_survey" and invitation.fields["first_name"] == "Ada"
    assert invitation.to_email == "ada@example.com"
    assert touchpoints(engine, "surveys")["exit_survey"][0] == "sent"
    paths = links(invitation.text)
    assert len(paths) == 8 and len(set(paths)) == 8  # one signed link per reason
    assert invitation.unsubscribe_url  # part of the cancellation, but refusable
    assert "It's too expensive" in invitation.html


def test_a_reason_given_at_stripe_is_recorded_and_not_asked_again(engine, settings):
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    cancel(engine, "s1", at("2026-12-01 09:00"))
    update_subscription(engine, "s1", cancel_feedback="low_quality", cancel_comment="Buggy app")
    out = Recorder()
    days(engine, settings, out, 0, 5)
    assert out.sent == []
    with Session(engine) as session:
        [told] = session.exec(select(SurveyResponse)).all()
    assert (told.survey, told.answer, told.comment, told.source) == (
        "exit",
        "technical_issues",
        "Buggy app",
        "provider",
    )
    assert told.key == "exit:s1:2026-12-01"


def test_an_unsubscribed_member_gets_no_exit_survey(engine, settings):
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    set_member(engine, "ada", unsubscribed_at=at("2026-11-01 00:00"))
    cancel(engine, "s1", at("2026-12-01 09:00"))
    out = Recorder()
    days(engine, settings, out, 0, 3)
    assert out.sent == []
    assert touchpoints(engine, "surveys")["exit_survey"] == (
        "skipped",
        "the member unsubscribed from marketing messages",
    )


def test_the_satisfaction_survey_comes_at_90_days_then_every_180_to_consenting_members(
    engine, settings
):
    add_subscription(engine, "s1", current_period_end=at("2027-12-20 00:00"), member="ada")
    add_subscription(engine, "s2", current_period_end=at("2027-12-20 00:00"), member="bob")
    for sub in ("s1", "s2"):
        update_subscription(engine, sub, started_at=at("2026-09-02 08:00"))  # day 90: Dec 1
    set_member(engine, "ada", marketing_consent=True)
    out = Recorder()
    pipeline = SurveyPipeline(plan=SurveyPlan(nps_rounds=2))
    days(engine, settings, out, 0, 0, pipeline)
    days(engine, settings, out, 179, 181, pipeline)  # day 270: May 30, 2027
    assert [(m.step, m.to_email) for m in out.sent] == [
        ("nps_90d", "ada@example.com"),
        ("nps_270d", "ada@example.com"),
    ]
    assert len(links(out.sent[0].text)) == 11  # 0 to 10
    skipped = touchpoints(engine, "surveys")
    assert "nps_90d" in skipped  # bob's, recorded
    with Session(engine) as session:
        assert session.exec(select(SurveyResponse)).all() == []  # nothing answered by sending
