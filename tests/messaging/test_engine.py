"""The touchpoint engine on a real database: exactly once, whatever reruns, races or crashes."""

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, select, update

from memberflow.core.db import insert_one
from memberflow.core.models import Member, Product, Touchpoint
from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging import outbox, preview, store
from memberflow.messaging.claims import DeliveryOptions
from memberflow.messaging.delivery import deliver_due, new_token
from memberflow.messaging.outbox import new_touchpoint
from memberflow.messaging.planning import plan_batch
from memberflow.messaging.protocols import PlanningWindow
from memberflow.messaging.rendering import Renderer
from memberflow.messaging.tally import LANGUAGE_FALLBACKS, add_tally
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.clock import at
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder

AS_OF = at("2026-12-01 09:00")
RENEWS = at("2026-12-08 10:00")  # renewal_7d is due 2026-12-01 09:00 UTC


class Crash(BaseException):
    """Stands in for the process dying mid-batch (not an Exception: nothing catches it)."""


def run(
    engine,
    output,
    as_of=AS_OF,
    *,
    pipeline=None,
    batch_size=500,
    options=None,
    templates=PROJECT_ROOT / "templates",
    enrich=None,
):
    """Plans and delivers everything due at `as_of` with the core functions (no Prefect)."""
    pipeline = pipeline or ReminderPipeline()
    options = options or DeliveryOptions(token=new_token())
    tally = {}
    since = as_of - timedelta(days=7)
    for step, selection in pipeline.selections(PlanningWindow(as_of, since)):
        cursor = selection.start
        while cursor is not None:
            cursor, more = plan_batch(
                engine,
                pipeline,
                step,
                selection,
                as_of=as_of,
                since=since,
                channel=output.channel,
                after=cursor,
                limit=batch_size,
            )
            add_tally(tally, more)
    delivered = deliver_due(
        engine,
        pipeline,
        renderer=Renderer(templates),
        output=output,
        settings=Settings(),
        as_of=as_of,
        limit=batch_size,
        options=options,
        enrich=enrich,
    )
    add_tally(tally, delivered)
    output.close()
    return {step: dict(counts) for step, counts in tally.items() if counts}


def steps(tally: dict) -> dict:
    return {name: counts for name, counts in tally.items() if not name.startswith("!")}


def statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(Touchpoint.key, Touchpoint.status)).all()
    return {key.split(":")[2]: status for key, status in rows}


def touchpoint(engine, subscription: str):
    with engine.connect() as conn:
        return conn.execute(
            select(Touchpoint).where(Touchpoint.key.contains(f":{subscription}:"))
        ).one()


def test_a_due_reminder_is_sent_once_and_recorded(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)
    output = Recorder()
    assert run(engine, output) == {"renewal_7d": {"planned": 1, "sent": 1}}
    [message] = output.sent
    assert message.key == "reminders:renewal_7d:s1:2026-12-08:email"
    assert "December 8, 2026" in message.subject
    row = touchpoint(engine, "s1")
    assert (row.status, row.attempts, row.receipt) == ("sent", 1, "recorded 1")
    assert row.claimed_by is None
    assert row.sent_at.tzinfo is not None and row.sent_at >= min(AS_OF, datetime.now(UTC))


def test_running_the_same_moment_twice_sends_nothing_new(engine):
    for n in range(5):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    output = Recorder()
    run(engine, output)
    assert run(engine, output) == {}
    assert run(engine, output, as_of=AS_OF + timedelta(hours=20)) == {}
    assert set(output.keys().values()) == {1} and len(output.sent) == 5


def test_batches_cover_everyone_exactly_once(engine):
    for n in range(23):
        add_subscription(engine, f"s{n:02d}", current_period_end=RENEWS + timedelta(minutes=n))
    output = Recorder()
    assert run(engine, output, batch_size=4) == {"renewal_7d": {"planned": 23, "sent": 23}}
    assert len(output.keys()) == 23


def test_batches_page_through_many_equal_anchor_times(engine):
    """One import often gives thousands of subscriptions the very same renewal time."""
    for n in range(11):
        add_subscription(engine, f"same{n:02d}", current_period_end=RENEWS)
    add_subscription(engine, "later", current_period_end=RENEWS + timedelta(hours=1))
    output = Recorder()
    assert run(engine, output, batch_size=3) == {"renewal_7d": {"planned": 12, "sent": 12}}
    assert len(output.keys()) == 12


def test_two_runs_racing_send_each_reminder_once(engine):
    for n in range(40):
        add_subscription(engine, f"s{n:02d}", current_period_end=RENEWS)
    output = Recorder(delay=0.002)
    errors = []

    def one_run():
        try:
            run(engine, output, batch_size=7)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(output.sent) == 40 and set(output.keys().values()) == {1}


def lapse_claims(engine, by=timedelta(minutes=2)):
    """Moves every live claim `by` into the past, as if its run had died that long ago."""
    with engine.begin() as conn:
        conn.execute(
            update(Touchpoint)
            .where(Touchpoint.status == "sending")
            .values(claimed_at=datetime.now(UTC) - by)
        )


def test_a_crash_mid_batch_loses_nothing_and_repeats_nothing(engine):
    for n in range(6):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    output = Recorder()
    calls = 0
    original = output.send

    def dies_on_the_fourth(message):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise Crash()
        return original(message)

    output.send = dies_on_the_fourth
    with pytest.raises(Crash):
        run(engine, output)
    assert Counter(statuses(engine).values()) == {"sent": 3, "sending": 3}

    output.send = original
    run(engine, output)  # the dead run's claims are still fresh: nobody else may send them
    assert len(output.sent) == 3

    lapse_claims(engine)  # a minute later: the dead run renewed nothing
    run(engine, output)
    assert len(output.sent) == 6 and set(output.keys().values()) == {1}
    assert set(statuses(engine).values()) == {"sent"}


def test_a_failed_send_is_retried_by_later_runs_until_dead(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)
    add_subscription(engine, "s2", current_period_end=RENEWS)
    flaky = Recorder(fail_on={"s1"})
    assert steps(run(engine, flaky)) == {"renewal_7d": {"planned": 2, "sent": 1, "failed": 1}}
    row = touchpoint(engine, "s1")
    assert (row.status, row.attempts, row.error) == ("failed", 1, "mailbox full")

    options = DeliveryOptions(token=new_token(), max_attempts=3)
    # its next try is scheduled: 10 minutes later, then 40 minutes after that
    assert touchpoint(engine, "s1").next_attempt_at == AS_OF + timedelta(minutes=10)
    assert run(engine, flaky, AS_OF + timedelta(minutes=9), options=options) == {}
    run(engine, flaky, AS_OF + timedelta(minutes=10), options=options)
    assert (touchpoint(engine, "s1").status, touchpoint(engine, "s1").attempts) == ("failed", 2)
    assert touchpoint(engine, "s1").next_attempt_at == AS_OF + timedelta(minutes=50)
    run(engine, flaky, AS_OF + timedelta(minutes=50), options=options)
    assert (touchpoint(engine, "s1").status, touchpoint(engine, "s1").attempts) == ("dead", 3)
    assert run(engine, flaky, AS_OF + timedelta(hours=2), options=options) == {}

    healed = Recorder()
    add_subscription(engine, "s3", current_period_end=RENEWS)
    update_subscription(engine, "s3", status="active")
    run(engine, healed)
    assert [m.key.split(":")[2] for m in healed.sent] == ["s3"]


def test_a_retry_that_comes_too_late_expires_instead(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)
    run(engine, Recorder(fail_on={"s1"}))
    later = AS_OF + timedelta(days=3)
    assert run(engine, Recorder(), as_of=later) == {"renewal_7d": {"expired": 1}}


def test_conditions_are_checked_again_at_send_time(engine):
    add_subscription(engine, "gone", current_period_end=RENEWS)
    add_subscription(engine, "moved", current_period_end=RENEWS)
    run(engine, Recorder(fail_on={"gone", "moved"}))  # planned, not yet delivered

    update_subscription(engine, "gone", status="canceled")
    update_subscription(engine, "moved", current_period_end=RENEWS + timedelta(days=14))
    output = Recorder()
    assert run(engine, output, as_of=AS_OF + timedelta(hours=1)) == {"renewal_7d": {"skipped": 2}}
    assert output.sent == []
    assert "no longer applies" in touchpoint(engine, "gone").error

    later = AS_OF + timedelta(days=14)
    run(engine, output, as_of=later)
    assert [m.key for m in output.sent] == ["reminders:renewal_7d:moved:2026-12-22:email"]


def test_a_broken_template_fails_its_touchpoint_and_the_batch_goes_on(engine, tmp_path):
    import shutil

    templates = shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    broken = templates / "reminders" / "renewal" / "fr" / "body.txt"
    broken.write_text("{{ nickname }}")
    add_subscription(engine, "en1", current_period_end=RENEWS)
    add_subscription(engine, "fr1", current_period_end=RENEWS, locale="fr")
    add_subscription(engine, "en2", current_period_end=RENEWS)
    output = Recorder()
    tally = run(engine, output, templates=templates)
    assert steps(tally) == {"renewal_7d": {"planned": 3, "sent": 2, "failed": 1}}
    error = touchpoint(engine, "fr1").error
    assert error == "template reminders/renewal/fr/body.txt:1: 'nickname' is undefined"
    # told once with its count: the run's log turns it into one WARNING
    assert tally["!failures"] == {error: 1}


def test_an_enricher_adds_fields_once_per_batch_before_rendering(engine):
    for n in range(5):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    batches = []

    def from_crm(fields):
        batches.append(len(fields))
        return [{**f, "first_name": f["first_name"].upper()} for f in fields]

    output = Recorder()
    run(engine, output, batch_size=2, enrich=from_crm)
    assert batches == [2, 2, 1]
    assert all("Hi ADA," in m.text for m in output.sent)


def test_an_enricher_that_fails_fails_the_batch_for_a_later_retry(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)

    def crm_down(fields):
        raise ConnectionError("crm.example.com unreachable")

    assert steps(run(engine, Recorder(), enrich=crm_down)) == {
        "renewal_7d": {"planned": 1, "failed": 1}
    }
    assert "crm.example.com unreachable" in touchpoint(engine, "s1").error
    assert run(engine, Recorder()) == {"renewal_7d": {"sent": 1}}


def test_every_step_in_one_run(engine):
    add_subscription(engine, "renew", current_period_end=RENEWS)
    add_subscription(engine, "annual", current_period_end=at("2026-12-31 10:00"), interval="year")
    add_subscription(
        engine,
        "trial",
        current_period_end=at("2026-12-04 10:00"),
        trial_end=at("2026-12-04 10:00"),
        status="trialing",
        interval="year",
    )
    add_subscription(engine, "card", current_period_end=at("2027-01-02 10:00"), card=(12, 2026))
    output = Recorder()
    run(engine, output)
    assert sorted(m.step for m in output.sent) == [
        "card_expiry_30d",
        "renewal_30d",
        "renewal_7d",
        "trial_end_3d",
    ]


def test_a_dry_run_renders_but_writes_and_sends_nothing(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)
    pipeline = ReminderPipeline()
    seen = []
    step, selection = pipeline.selections(PlanningWindow(AS_OF, AS_OF - timedelta(days=7)))[0]
    _, tally = preview.preview_batch(
        engine,
        pipeline,
        step,
        selection,
        renderer=Renderer(PROJECT_ROOT / "templates"),
        settings=Settings(),
        as_of=AS_OF,
        since=AS_OF - timedelta(days=7),
        channel="email",
        after=selection.start,
        limit=100,
        on_message=seen.append,
    )
    assert tally == {"renewal_7d": {"would_send": 1}}
    assert seen[0].subject.startswith("Your Monthly Club membership renews")
    assert statuses(engine) == {}


def set_product(engine, external_id, **values):
    with engine.begin() as conn:
        conn.execute(update(Product).where(Product.external_id == external_id).values(**values))


def test_a_member_reads_their_language_and_the_products_words_in_it(engine):
    add_subscription(engine, "sub-de", current_period_end=RENEWS, locale="de-AT")
    add_subscription(engine, "sub-es", current_period_end=RENEWS, locale="es")
    set_product(
        engine,
        "monthly",
        value_amplifier="New: a live Q&A",
        translations=json.dumps({"de": {"name": "Monatsklub", "value_amplifier": "Neu: Live-Q&A"}}),
    )
    output = Recorder()
    tally = run(engine, output)
    german, spanish = sorted(output.sent, key=lambda message: message.to_email)
    assert (german.locale, spanish.locale) == ("de", "es")
    assert "Monatsklub" in german.subject and "Neu: Live-Q&A" in german.text
    assert "Monthly Club" in spanish.subject and "Q&A" not in spanish.text  # no English in it
    assert "9 de diciembre de 2026" not in spanish.text and "8 de diciembre de 2026" in spanish.text
    assert tally[LANGUAGE_FALLBACKS] == {
        "product 'monthly' has no 'es' value amplifier: left out (add a translation)": 1
    }


def test_a_language_without_templates_falls_back_to_the_products_and_says_so(engine):
    add_subscription(engine, "sub-it", current_period_end=RENEWS, locale="it-CH")
    set_product(engine, "monthly", default_locale="fr", value_amplifier="Nouveau : un atelier")
    output = Recorder()
    tally = run(engine, output)
    (message,) = output.sent
    assert message.locale == "fr" and "8 décembre 2026" in message.text
    assert "Nouveau : un atelier" in message.text
    assert tally[LANGUAGE_FALLBACKS] == {"reminders/renewal has no 'it-CH': written in 'fr'": 1}


def test_a_flagged_address_waits_without_using_attempts_until_it_is_fixed(engine):
    add_subscription(engine, "s1", current_period_end=RENEWS, email="ada(at)example.com")
    problem = "'ada(at)example.com' is not an email address: no @"
    with engine.begin() as conn:
        conn.execute(update(Member).values(email_problem=problem))
    output = Recorder()
    assert steps(run(engine, output)) == {"renewal_7d": {"planned": 1, "failed": 1}}
    row = touchpoint(engine, "s1")
    assert (row.status, row.attempts, output.sent) == ("failed", 0, [])
    assert row.error.startswith(problem) and "correct it at the payment provider" in row.error
    with engine.begin() as conn:
        conn.execute(update(Member).values(email="ada@example.com", email_problem=None))
    assert steps(run(engine, output, AS_OF + timedelta(hours=1))) == {"renewal_7d": {"sent": 1}}


def test_a_touchpoint_planned_one_at_a_time_is_written_once_as_a_batch_would_write_it(engine):
    """Dunning plans a notice per case; it goes straight to the driver on SQLite."""
    sub = add_subscription(engine, "one", current_period_end=at("2026-12-08 10:00"))

    def plan(step: str) -> dict:
        return new_touchpoint(
            pipeline="dunning",
            step=step,
            entity="in_1",
            channel="email",
            subscription_id=sub,
            anchor_at=at("2026-12-01 00:00"),
            tz=UTC,
            due_at=at("2026-12-01 10:00"),
            context=json.dumps({"retry": "2026-12-03"}),
        )

    with engine.begin() as conn:
        outbox.plan_touchpoint(conn, plan("first_notice"))
        outbox.plan_touchpoint(conn, plan("first_notice"))  # a rerun: nothing twice
        outbox.insert_touchpoints(conn, [plan("second_notice")])
    columns = ("status", "attempts", "anchor_at", "due_at", "context", "channel", "pipeline")
    with engine.connect() as conn:
        rows = conn.execute(select(Touchpoint).order_by(Touchpoint.id)).mappings().all()
    assert [row["step"] for row in rows] == ["first_notice", "second_notice"]
    assert {name: rows[0][name] for name in columns} == {name: rows[1][name] for name in columns}
    assert rows[0]["due_at"] == at("2026-12-01 10:00") and rows[0]["status"] == "pending"


def test_one_row_insert_fills_in_scalar_defaults_and_refuses_to_guess_others(engine):
    sub = add_subscription(engine, "one", current_period_end=at("2026-12-08 10:00"))
    row = {
        "key": "k1",
        "pipeline": "dunning",
        "step": "first_notice",
        "channel": "email",
        "subscription_id": sub,
        "anchor_at": at("2026-12-01 00:00"),
        "due_at": at("2026-12-01 10:00"),
        "created_at": at("2026-12-01 00:00"),
    }
    with engine.begin() as conn:
        insert_one(conn, store.touchpoint, row, unique="key")  # no status, no attempts
    with engine.connect() as conn:
        written = conn.execute(select(Touchpoint.status, Touchpoint.attempts)).one()
    assert tuple(written) == ("pending", 0)
    table = Table("computed", MetaData(), Column("key", String, primary_key=True))
    table.append_column(Column("made", String, default=lambda: "now"))
    with engine.connect() as conn, pytest.raises(TypeError, match="give computed.made"):
        insert_one(conn, table, {"key": "x"}, unique="key")
