"""The cancel page's numbers: kept as Chargebee defines it (pure), the report's table from real
visits, and the holdout an experiment withholds the alternative from."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from memberflow.ingress.app import create_app
from memberflow.messaging import experiments
from memberflow.pipelines.cancel_moment.report import report_sections
from memberflow.pipelines.cancel_moment.results import Visit, kept
from tests.support.cancel_page import form_token, manage_link

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)


def visit(decision, *, canceled=None, paid=None, months=1) -> Visit:
    return Visit(
        "gold",
        "unused",
        "pause",
        False,
        decision,
        T0,
        T0 + timedelta(minutes=2),
        canceled,
        paid,
        months,
        1900,
        "USD",
    )


def test_kept_means_no_cancellation_within_30_days_and_a_pause_paid_after():
    later = T0 + timedelta(days=45)
    assert kept(visit("switch"), later) is True
    assert kept(visit("switch"), T0 + timedelta(days=10)) is None  # too early to tell
    assert kept(visit("switch", canceled=T0 + timedelta(days=20)), later) is False
    assert kept(visit("switch", canceled=T0 + timedelta(days=40)), later) is True
    assert kept(visit("pause", paid=T0 + timedelta(days=33)), later) is True
    assert kept(visit("pause"), later) is None  # the pause has not been paid after, yet
    assert kept(visit("pause"), T0 + timedelta(days=90)) is False
    assert kept(visit("cancel"), later) is False


@pytest.fixture
def client(settings, monkeypatch):
    config = {"*": {"unused": {"kind": "pause", "months": 1}}}
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps(config))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def go(client, path, reason, choice):
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start), "reason": reason})
    client.post(f"{path}/decide", data={"form_token": form_token(confirm), "choice": choice})
    return confirm.text


def test_an_experiments_holdout_sees_no_alternative_and_the_report_compares(
    client, engine, settings
):
    plan = experiments.ExperimentPlan(
        name="pause-or-not", pipeline="cancel_moment", step="alternative", holdout=0.5
    )
    with engine.begin() as conn:
        experiments.start(conn, plan, datetime.now(UTC))
    members = [f"m{n}" for n in range(40)]
    held = [m for m in members if plan.assign(m) == experiments.HOLDOUT]
    shown = [m for m in members if m not in held]
    assert held and shown
    withheld_page = go(
        client, manage_link(engine, settings, member=held[0], sub="h0"), "unused", "cancel"
    )
    assert "Pause" not in withheld_page and "Cancel my membership now" in withheld_page
    shown_page = go(
        client, manage_link(engine, settings, member=shown[0], sub="s0"), "unused", "accept"
    )
    assert "Pause instead" in shown_page
    go(client, manage_link(engine, settings, member=shown[1], sub="s1"), None, "cancel")

    with engine.connect() as conn:
        now = datetime.now(UTC)
        tables = report_sections(conn, now - timedelta(days=1), now + timedelta(days=1), None)
    rows = {(r["reason"], r["alternative"]): r for r in tables["cancel page"]}
    paused = rows[("unused", "pause")]
    assert (paused["opened"], paused["shown"], paused["withheld"]) == (2, 1, 1)
    assert (paused["accepted"], paused["kept"], paused["too early"], paused["canceled"]) == (
        1,
        0,
        1,
        1,
    )
    assert rows[("(none given)", "-")]["canceled"] == 1
    groups = {r["group"]: r for r in tables["cancel page: the alternative against its holdout"]}
    assert groups["holdout (not shown)"]["judged"] == 0  # none 30 days old yet: not judged
