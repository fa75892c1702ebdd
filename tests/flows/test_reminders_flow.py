"""The real reminder flow under one Prefect test harness, with real outputs saved as Blocks."""

import json
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from blocks.outputs.script import ScriptOutput
from blocks.outputs.webhook import WebhookOutput
from flows.reminders import reminders
from memberflow.core.settings import get_settings
from memberflow.pipelines.reminders.steps import ReminderStep
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.prefect_api import flow_run_artifacts
from tests.support.servers import HttpReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

AS_OF = at("2026-12-01 09:00")
RENEWS = at("2026-12-08 10:00")


def total(rows):
    return rows[-1]


def test_the_flow_sends_each_reminder_once_and_publishes_a_summary(settings, engine):
    for n in range(12):
        add_subscription(engine, f"s{n:02d}", current_period_end=RENEWS)
    state = reminders(as_of=AS_OF, batch_size=5, return_state=True)
    rows = state.result()
    assert total(rows)["planned"] == 12 and total(rows)["sent"] == 12
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 12

    artifacts = flow_run_artifacts(state.state_details.flow_run_id)
    by_key = {artifact["key"]: artifact for artifact in artifacts}
    assert set(by_key) == {"reminders-summary", "reminders-delivery"}
    summary = json.loads(by_key["reminders-summary"]["data"])
    renewal = next(row for row in summary if row["step"] == "renewal_7d")
    assert (renewal["planned"], renewal["sent"], renewal["failed"]) == (12, 12, 0)

    again = reminders(as_of=AS_OF)
    assert total(again)["planned"] == 0 and total(again)["sent"] == 0


@pytest.fixture
def receiver():
    with HttpReceiver() as receiver:
        yield receiver


def test_two_flows_at_once_deliver_each_reminder_once(settings, engine, receiver):
    for n in range(30):
        add_subscription(engine, f"s{n:02d}", current_period_end=RENEWS)
    WebhookOutput(url=receiver.url, secret="s3cret").save("race", overwrite=True)
    results = []

    def one_run():
        results.append(
            reminders(as_of=AS_OF, output="memberflow-webhook-output/race", batch_size=4)
        )

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    keys = Counter(request.headers["Idempotency-Key"] for request in receiver.requests)
    assert len(keys) == 30 and set(keys.values()) == {1}
    assert sum(total(rows)["sent"] for rows in results) == 30


def test_a_failing_output_then_a_rerun_sends_each_once(settings, engine, tmp_path):
    for n in range(4):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    healthy = tmp_path / "healthy"
    delivered = tmp_path / "delivered.log"
    script = (
        "import json, os, sys\n"
        f"if not os.path.exists({str(healthy)!r}): sys.exit('gateway down')\n"
        f"open({str(delivered)!r}, 'a').write(json.load(sys.stdin)['key'] + '\\n')\n"
    )
    ScriptOutput(command=[sys.executable, "-c", script]).save("flaky", overwrite=True)

    first = reminders(as_of=AS_OF, output="memberflow-script-output/flaky")
    assert total(first)["planned"] == 4 and total(first)["failed"] == 4
    assert not delivered.exists()

    healthy.touch()
    second = reminders(as_of=AS_OF.replace(hour=10), output="memberflow-script-output/flaky")
    assert total(second)["sent"] == 4
    third = reminders(as_of=AS_OF.replace(hour=11), output="memberflow-script-output/flaky")
    assert total(third)["sent"] == 0
    lines = delivered.read_text().splitlines()
    assert len(lines) == 4 and len(set(lines)) == 4


def test_a_dry_run_counts_and_records_nothing(settings, engine):
    add_subscription(engine, "s1", current_period_end=RENEWS)
    rows = reminders(as_of=AS_OF, dry_run=True)
    assert total(rows) == {"step": "total", "would_send": 1, "would_expire": 0, "render_failed": 0}
    assert not settings.outbox_dir.exists()
    assert total(reminders(as_of=AS_OF))["sent"] == 1


def test_a_database_never_made_or_never_migrated_gets_a_clear_error(tmp_path, monkeypatch):
    from memberflow.core.db import DatabaseSettingError, SchemaMissing
    from memberflow.core.settings import get_settings

    path = tmp_path / "empty.db"
    monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    with pytest.raises(DatabaseSettingError, match="there is no database at .*db upgrade"):
        reminders(as_of=AS_OF)
    assert not path.exists()  # and no empty file left behind
    path.touch()  # an empty SQLite database: made, never migrated
    with pytest.raises(SchemaMissing, match="run `memberflow db upgrade`"):
        reminders(as_of=AS_OF)
    get_settings.cache_clear()


def test_steps_are_parameters_and_products_can_have_their_own(settings, engine):
    add_subscription(engine, "basic", current_period_end=at("2026-12-15 10:00"))
    add_subscription(engine, "vip", current_period_end=at("2026-12-15 10:00"), product="vip")
    two_weeks = ReminderStep(name="renewal_14d", anchor="renewal", days_before=14)
    rows = reminders(as_of=AS_OF, product_steps={"vip": [two_weeks]})
    assert [(r["step"], r["sent"]) for r in rows if r["sent"]] == [("renewal_14d", 1), ("total", 1)]


def test_after_a_long_outage_every_missed_reminder_is_accounted_for(settings, engine):
    """A run after ten days without one records what fell due meanwhile: expired when too late,
    sent when still within its lateness. Nothing is silently dropped, however long the gap."""
    reminders(as_of=AS_OF)  # the last run before the outage: the watermark
    for day in range(1, 11):  # renewals whose 7-day reminder falls due on each missed day
        add_subscription(engine, f"gap{day:02d}", current_period_end=RENEWS + timedelta(days=day))
    after = reminders(as_of=AS_OF + timedelta(days=10))
    renewal = next(row for row in after if row["step"] == "renewal_7d")
    # due at 09:00 on days 1..10 after AS_OF; lateness 48 h: days 8, 9 and 10 are still sendable
    assert (renewal["expired"], renewal["sent"]) == (7, 3)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT count(*) FROM touchpoint WHERE key LIKE '%gap%'"))
        assert keys.scalar_one() == 10


def test_two_deployments_on_two_channels_each_send_their_own_message_once(
    settings, engine, monkeypatch, tmp_path
):
    """Reminders by email and, from a second deployment, to a CRM's webhook: each member gets
    one of each. The webhook deployment once sent the emails that were waiting for a mail
    server that was down too: two reminders to the CRM, none by email."""
    for n in range(4):
        add_subscription(engine, f"s{n}", current_period_end=RENEWS)
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("MEMBERFLOW_OUTBOX_DIR", str(tmp_path / "not-a-folder" / "outbox"))
    get_settings.cache_clear()
    assert reminders(as_of=AS_OF, return_state=True).is_failed()  # the mail side is down
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret="s").save("crm", overwrite=True)
        by_webhook = reminders(as_of=AS_OF, output="memberflow-webhook-output/crm")
        monkeypatch.setenv("MEMBERFLOW_OUTBOX_DIR", str(settings.outbox_dir))
        get_settings.cache_clear()
        by_email = reminders(as_of=AS_OF)
        webhook_again = reminders(as_of=AS_OF, output="memberflow-webhook-output/crm")
    assert total(by_webhook)["sent"] == 4 and total(by_email)["sent"] == 4
    assert total(webhook_again)["sent"] == 0
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 4
    keys = Counter(request.headers["Idempotency-Key"] for request in receiver.requests)
    assert len(keys) == 4 and set(keys.values()) == {1}
    assert all(key.endswith(":webhook") for key in keys)


def test_a_run_a_year_ahead_on_a_real_database_is_refused_and_spoils_nothing(settings, engine):
    """The typo of issue 25 (`--as-of` a year ahead): it must neither send early nor expire
    what a later real run owes."""
    from memberflow.core import clock

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM database_role"))  # a real business's database
    now = datetime.now(UTC)
    # renews in a week from the last 09:00 UTC that has passed: its reminder is due now (a
    # renewal an exact week ahead would not be, before 09:00)
    last_nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if last_nine > now:
        last_nine -= timedelta(days=1)
    add_subscription(engine, "soon", current_period_end=last_nine + timedelta(days=7, hours=3))
    with pytest.raises(clock.MomentRefused, match="ahead of the clock.*--simulate"):
        reminders(as_of=now + timedelta(days=365))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM touchpoint")).scalar() == 0
    assert total(reminders())["sent"] == 1  # the real run, now, does its work
    with pytest.raises(clock.MomentRefused, match="holds real runs"):
        reminders(as_of=now + timedelta(days=365), simulate=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM touchpoint")).scalars().all() == ["sent"]
