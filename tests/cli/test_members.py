"""Data-subject requests from the command line: export everything, erase what identifies."""

import json
import logging

from sqlmodel import Session, select
from typer.testing import CliRunner

from memberflow.cli import app
from memberflow.core.models import Cancellation, InboxEvent, Member, Touchpoint
from tests.support.cancellations import cancel, follow_up_day, set_member
from tests.support.clock import at
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder

runner = CliRunner()


def leaving_member(engine, settings) -> Recorder:
    """Ada canceled with a comment, got her confirmation, a webhook of hers is in the inbox."""
    sub_id = add_subscription(
        engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada", email="ada@x.org"
    )
    add_subscription(engine, "other", current_period_end=at("2026-12-20 00:00"), member="bob")
    set_member(engine, "ada", marketing_consent=True, billing_address="1 Rue Ada")
    cancel(engine, "s1", at("2026-12-01 09:00"))
    update_subscription(engine, "s1", cancel_comment="Moving to Lyon, call me at 0600000000")
    with Session(engine) as session:
        session.add(
            InboxEvent(
                key="stripe:evt_1",
                provider="stripe",
                event_id="evt_1",
                event_type="x",
                occurred_at=at("2026-12-01 09:00"),
                received_at=at("2026-12-01 09:00"),
                status="applied",
                body='{"email": "ada@x.org"}',
                subscription_id=sub_id,
            )
        )
        session.commit()
    out = Recorder()
    follow_up_day(engine, settings, at("2026-12-01 10:00"), out)
    return out


def test_export_prints_every_row_about_the_member_and_nobody_else(engine, settings):
    leaving_member(engine, settings)
    result = runner.invoke(app, ["member", "export", "ada@x.org"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [m["external_id"] for m in found["member"]] == ["ada"]
    assert [s["external_id"] for s in found["subscription"]] == ["s1"]
    assert "Moving to Lyon" in found["cancellation"][0]["comment"]
    assert {t["step"] for t in found["touchpoint"]} == {
        "confirmation",
        "winback_14d",
        "door_open_60d",
    }
    assert "ada@x.org" in found["inbox"][0]["body"]
    assert "bob" not in result.output
    missing = runner.invoke(app, ["member", "export", "nobody@x.org"])
    assert missing.exit_code == 1 and "no member with email" in missing.output


def test_erase_removes_what_identifies_keeps_the_counts_and_blocks_every_later_message(
    engine, settings, caplog
):
    leaving_member(engine, settings)
    with Session(engine) as session:
        before = len(session.exec(select(Touchpoint)).all())
    with caplog.at_level(logging.INFO, logger="memberflow.privacy"):
        result = runner.invoke(app, ["member", "erase", "ada@x.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert "erased 1 member(s) on request" in caplog.text
    with Session(engine) as session:
        ada = session.exec(select(Member).where(Member.external_id == "ada")).one()
        assert ada.email.endswith("@erased.invalid") and ada.first_name == ""
        assert ada.billing_address is None and ada.erased_at is not None
        assert session.exec(select(InboxEvent)).one().body == '{"erased": true}'
        assert session.exec(select(Cancellation)).one().comment is None
        assert len(session.exec(select(Touchpoint)).all()) == before  # the counts stay
        steps = {t.step: t.status for t in session.exec(select(Touchpoint)).all()}
    # outside the session: on SQLite its open transaction holds the write lock the export waits on
    exported = runner.invoke(app, ["member", "export", ada.email])
    assert exported.exit_code == 0 and "Lyon" not in exported.output
    assert steps == {"confirmation": "sent", "winback_14d": "skipped", "door_open_60d": "skipped"}
    out = Recorder()
    follow_up_day(engine, settings, at("2027-01-01 10:00"), out)
    assert out.sent == []
    assert runner.invoke(app, ["member", "export", "ada@x.org"]).exit_code == 1
