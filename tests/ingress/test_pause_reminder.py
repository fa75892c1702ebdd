"""A pause (chosen on the cancel page, or at Stripe) learned from Stripe's
`customer.subscription.updated` (`pause_collection.resumes_at`): the billing reminders send
"your pause ends on ..." 7 days before, once; the next event without `pause_collection` (the
pause over or taken back) clears it."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from memberflow.core.models import Subscription
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.delivery import deliver_all, plan_all
from tests.support.outputs import Recorder
from tests.support.webhooks import sample, send

RESUMES = datetime(2027, 3, 20, 12, tzinfo=UTC)


def updated(event_id: str, created: datetime, pause: dict | None) -> dict:
    payload = sample("stripe", "customer.subscription.updated", id=event_id)
    payload["created"] = int(created.timestamp())
    payload["data"]["object"]["pause_collection"] = pause
    return payload


def resumes_at(engine):
    with engine.connect() as conn:
        return conn.execute(select(Subscription.pause_resumes_at)).scalar_one()


def test_a_pause_gets_its_reminder_a_week_before_it_ends(client, engine, configured):
    send(client, "stripe", sample("stripe", "customer.created"), configured)
    paused = {"behavior": "void", "resumes_at": int(RESUMES.timestamp())}
    answer = send(
        client, "stripe", updated("evt_pause1", RESUMES - timedelta(days=60), paused), configured
    )
    assert answer.status_code == 200, answer.text
    assert resumes_at(engine) == RESUMES

    out = Recorder()
    for day in (8, 7, 6):  # the daily runs around the week before
        as_of = RESUMES - timedelta(days=day) + timedelta(hours=1)
        plan_all(engine, ReminderPipeline(), as_of, as_of - timedelta(days=1))
        deliver_all(
            engine, settings=configured, pipeline=ReminderPipeline(), output=out, as_of=as_of
        )
    pause_notes = [m for m in out.sent if m.step == "pause_end_7d"]
    assert len(pause_notes) == 1
    assert "pause" in pause_notes[0].subject.lower() and "March 20, 2027" in pause_notes[0].subject
    assert "/manage/" in pause_notes[0].text  # the way to change or cancel, as in every reminder

    send(client, "stripe", updated("evt_resume1", RESUMES - timedelta(days=30), None), configured)
    assert resumes_at(engine) is None
