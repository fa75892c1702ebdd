"""The way to cancel in every billing reminder and dunning notice (the cancel page's signed
link), mail scanners following every link of such an email (GET and HEAD change nothing), and
the ticket to ops for a member who asked for a person, sent once."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from blocks.gateways.sandbox import SandboxGateway
from memberflow.core.models import CancelVisit, Touchpoint
from memberflow.ingress.app import create_app
from memberflow.pipelines.cancel_moment.carry_out import carry_out
from memberflow.pipelines.cancel_moment.tickets import TicketPipeline
from memberflow.pipelines.dunning.notices import NoticePipeline
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.cancel_page import form_token, manage_link
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.dunning import advance, failed_renewal
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder


@pytest.fixture
def client(settings, monkeypatch):
    human = {"*": {"technical_issues": {"kind": "human"}}}
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps(human))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)


def test_a_renewal_reminder_carries_the_way_to_cancel_and_scanners_change_nothing(
    client, engine, settings
):
    add_subscription(
        engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada", locale="de"
    )
    out = Recorder()
    as_of = at("2026-12-13 10:00")
    plan_all(engine, ReminderPipeline(), as_of, as_of - timedelta(days=1))
    deliver_all(engine, settings, ReminderPipeline(), out, as_of)
    [message] = out.sent
    assert "Mitgliedschaft ändern oder kündigen: " in message.text
    manage = message.fields["manage_url"]
    assert manage in message.text and manage in message.html
    for url in links_in(message.text):  # what a scanner fetches: every link, GET and HEAD
        path = "/" + url.split("/", 3)[3] if url.startswith(settings.public_url) else None
        if path:
            client.head(path)
            client.get(path)
    with engine.connect() as conn:
        decided = conn.execute(select(func.count()).where(CancelVisit.decision.is_not(None)))
        assert decided.scalar_one() == 0
        assert conn.execute(select(CancelVisit.reason)).scalars().all() == [None]


def test_a_dunning_notice_carries_it_and_an_ops_ticket_does_not(engine, settings):
    failed_renewal(
        engine, "ada", card="0002", decline="generic_decline", failed_at=at("2026-12-01 09:00")
    )
    as_of = at("2026-12-01 10:00")
    advance(engine, SandboxGateway(), as_of)
    member_out = Recorder()
    deliver_all(engine, settings, NoticePipeline(), member_out, as_of)
    [notice] = member_out.sent
    assert "/manage/" in notice.fields["manage_url"] and notice.fields["manage_url"] in notice.text
    assert NoticePipeline(for_ops=True).carries_manage_link is False  # tickets go to ops


def test_a_member_who_asks_for_a_person_gets_one_ticket_to_ops(client, engine, settings):
    path = manage_link(engine, settings)
    start = client.get(path)
    confirm = client.post(
        path,
        data={
            "form_token": form_token(start),
            "reason": "technical_issues",
            "comment": "The app logs me out every day",
        },
    )
    assert "Have someone contact me" in confirm.text
    done = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm), "choice": "accept"}
    )
    assert "Someone from Example Club will write to you within a day" in done.text
    now = datetime.now(UTC)
    for _ in range(2):  # a rerun plans nothing twice
        carry_out(engine, SandboxGateway().carry_out_decision, now=now, within=timedelta(1))
    ops = Recorder()
    deliver_all(engine, settings, TicketPipeline(), ops, now)
    deliver_all(engine, settings, TicketPipeline(), ops, now + timedelta(minutes=10))
    [ticket] = ops.sent
    assert ticket.to_email == settings.support_email
    assert "The app logs me out every day" in ticket.text and "ada@example.com" in ticket.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Touchpoint)).scalar_one() == 1
