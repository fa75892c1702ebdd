"""The forecast is what the runs then send: forecast the next days, run each day, compare. And
the revenue at stake, computed by hand on a small book."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from blocks.gateways.sandbox import SandboxGateway
from memberflow.analytics.forecast import forecast
from memberflow.core.models import Touchpoint
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.dunning import failed_renewal, run_day
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder

START = at("2026-12-01 00:00")
DAYS = 10
RENEWALS = 120
CARDS = {0: (12, 2026), 2: (11, 2026)}  # valid until 31 December; expired on 30 November
ZONES = ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Paris", "Pacific/Auckland"]


@pytest.fixture
def book(engine):
    """Renewals every 8 hours over the next six weeks in five zones, trials ending, cards
    expiring soon and cards expired already, annual plans, and some that will not be reminded."""
    for n in range(RENEWALS):
        add_subscription(
            engine,
            f"sub_{n}",
            current_period_end=renews(n),
            time_zone=ZONES[n % len(ZONES)],
            interval="year" if n % 7 == 0 else "month",
            status="canceled" if n % 11 == 0 else "active",
            card=CARDS.get(n % 4),
            amount_minor=1000 + n,
            currency="EUR" if n % 2 else "USD",
        )
    for n in range(8):
        add_subscription(
            engine,
            f"trial_{n}",
            current_period_end=START + timedelta(days=n + 1),
            trial_end=START + timedelta(days=n + 1, hours=5),
            status="trialing",
            time_zone=ZONES[n % len(ZONES)],
        )


def renews(n: int):
    return START + timedelta(hours=8 * n + 3)


def sent_by_day(engine, end) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Touchpoint.due_at, Touchpoint.pipeline, Touchpoint.step).where(
                Touchpoint.status == "sent", Touchpoint.due_at >= START, Touchpoint.due_at < end
            )
        )
        return Counter((due.date().isoformat(), pipeline, step) for due, pipeline, step in rows)


def outbox(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(Touchpoint).order_by(Touchpoint.id)).all()


def forecast_by_day(found) -> Counter:
    return Counter({(r["day"], r["pipeline"], r["step"]): r["messages"] for r in found.messages})


def test_the_forecast_is_what_the_daily_runs_then_send(engine, settings, book):
    pipeline = ReminderPipeline()
    yesterday = START - timedelta(microseconds=1)  # the last run before the forecast
    plan_all(engine, pipeline, yesterday, yesterday - timedelta(days=3))
    deliver_all(engine, settings, pipeline, Recorder(), yesterday)
    # the first days' reminders are planned already: the forecast reads those from the outbox
    plan_all(engine, pipeline, START + timedelta(days=2), START)

    before = outbox(engine)
    found = forecast(engine, START, DAYS, ["reminders"])
    predicted = forecast_by_day(found)
    assert sum(predicted.values()) > 40
    assert {step for _, _, step in predicted} == {
        "renewal_7d",
        "renewal_30d",
        "trial_end_3d",
        "card_expiry_30d",
    }
    assert outbox(engine) == before  # the forecast wrote nothing

    since = START
    for day in range(DAYS):
        as_of = START + timedelta(days=day + 1) - timedelta(microseconds=1)
        plan_all(engine, pipeline, as_of, since)
        deliver_all(engine, settings, pipeline, Recorder(), as_of)
        since = as_of
    assert sent_by_day(engine, START + timedelta(days=DAYS)) == predicted


def test_open_dunning_cases_are_forecast_as_the_hourly_runs_then_email(engine, settings):
    failed_at = START - timedelta(hours=14)
    for n, zone in enumerate(ZONES):
        failed_renewal(
            engine, f"m{n}", card="0002", decline="stolen_card", failed_at=failed_at, time_zone=zone
        )
    gateway, members, ops = SandboxGateway(), Recorder(), Recorder()
    run_day(engine, settings, gateway, failed_at, members, ops)  # opens the cases: first notice
    assert len(members.sent) == len(ZONES)

    days = 7  # the final action falls on day 8
    found = forecast(engine, START, days, ["dunning"])
    predicted = forecast_by_day(found)
    assert {step for _, _, step in predicted} == {"reminder", "last_notice", "final_notice"}
    for hour in range(days * 24):
        run_day(engine, settings, gateway, START + timedelta(hours=hour + 1), members, ops)
    assert sent_by_day(engine, START + timedelta(days=days)) == predicted


def test_the_revenue_at_stake_per_currency(engine, book):
    found = forecast(engine, START, DAYS, ["reminders"])
    end = START + timedelta(days=DAYS)
    renewing = [n for n in range(RENEWALS) if n % 11 and START <= renews(n) < end]
    expected = {}
    for n in renewing:
        currency = "EUR" if n % 2 else "USD"
        count, amount = expected.get((currency, "renewals"), (0, 0))
        expected[(currency, "renewals")] = (count + 1, amount + 1000 + n)
        if n % 4 == 2:  # the card's last day, 30 November, is before the charge
            count, amount = expected.get((currency, "charges after the card expires"), (0, 0))
            expected[(currency, "charges after the card expires")] = (count + 1, amount + 1000 + n)
    expected[("USD", "trials ending")] = (8, 8 * 1999)
    assert {
        (row["currency"], row["what"]): (row["subscriptions"], row["amount_minor"])
        for row in found.at_stake
    } == expected
