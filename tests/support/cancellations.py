"""Cancellations for tests: a member leaves, a day of follow-up runs, what each message said."""

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlmodel import Session, select

from memberflow.core.models import Member, Touchpoint
from memberflow.pipelines.cancellations import records, returns
from memberflow.pipelines.cancellations.pipeline import CancellationPipeline
from memberflow.pipelines.cancellations.steps import Offer
from tests.support.delivery import deliver_all
from tests.support.factories import update_subscription

OFFERS = {"monthly": Offer(code="COMEBACK", description="a free month", valid_days=30)}


def cancel(engine, external_id: str, at: datetime, *, at_period_end=False, reason=None) -> None:
    """The subscription as the ingress leaves it after the provider's cancellation webhook."""
    values = {"canceled_at": at, "cancel_reason": reason or "cancellation_requested"}
    if at_period_end:
        values["cancel_at_period_end"] = True
    else:
        values["status"] = "canceled"
    update_subscription(engine, external_id, **values)


def follow_up_day(engine, settings, as_of: datetime, output, pipeline=None, offers=OFFERS):
    """What the flow does at `as_of`: returns, new cancellations since yesterday, delivery."""
    pipeline = pipeline or CancellationPipeline()
    returns.record_returns(engine, as_of=as_of, window=timedelta(days=30))
    records.record_new(
        engine,
        as_of=as_of,
        since=as_of - timedelta(days=1),
        steps_for=pipeline.steps_for,
        offers=offers,
        channel="email",
    )
    return deliver_all(engine, settings, pipeline, output, as_of)


def set_member(engine, external_id: str, **values) -> None:
    with Session(engine) as session:
        member = session.exec(select(Member).where(Member.external_id == external_id)).one()
        for name, value in values.items():
            setattr(member, name, value)
        session.add(member)
        session.commit()


def touchpoints(engine, pipeline: str = "cancellations") -> dict[str, tuple[str, str | None]]:
    """step -> (status, error) of a pipeline's touchpoints."""
    with Session(engine) as session:
        rows = session.exec(select(Touchpoint).where(Touchpoint.pipeline == pipeline)).all()
        return {row.step: (row.status, row.error) for row in rows}


def unsubscribe_path(engine, settings, member: str, locale: str = "en") -> str:
    """The unsubscribe link (its path) of the win-back a consenting member really got: they
    cancel on Dec 1 at period end (Dec 20), the win-back goes on Jan 3."""
    from tests.support.clock import at
    from tests.support.factories import add_subscription
    from tests.support.outputs import Recorder

    add_subscription(
        engine, f"sub-{member}", current_period_end=at("2026-12-20 00:00"), member=member
    )
    set_member(engine, member, marketing_consent=True, locale=locale)
    cancel(engine, f"sub-{member}", at("2026-12-01 09:00"), at_period_end=True)
    out = Recorder()
    for day in (at("2026-12-01 10:00"), at("2027-01-03 10:00")):
        follow_up_day(engine, settings, day, out)
    [winback] = [m for m in out.sent if m.step == "winback_14d"]
    return urlsplit(winback.unsubscribe_url).path
