"""Each metric on a small hand-built history whose answers are worked out by hand in the
comments, on SQLite and PostgreSQL. November 2026 is the period (30 days)."""

import pytest

from memberflow.analytics import churn, metrics, recovery, trend
from tests.support.clock import at
from tests.support.history import (
    JANUARY,
    NOVEMBER,
    failed_payment,
    joined,
    left,
    message,
    recovered,
)


def rows_by(rows, *keys):
    return {tuple(row[key] for key in keys): row for row in rows}


def test_churn_per_product_and_currency_never_adds_euros_to_dollars(history):
    with history.connect() as conn:
        rows = rows_by(churn.churn(conn, NOVEMBER), "product", "currency")
    assert set(rows) == {
        ("monthly", "USD"),
        ("annual", "USD"),
        ("euro", "EUR"),
        ("all", "USD"),
        ("all", "EUR"),
    }
    monthly = rows[("monthly", "USD")]
    # at the start: a1, a2, a3, a7 (a4 had not joined); 4 x 20.00 = 80.00 a month
    assert (monthly["members_at_start"], monthly["mrr_at_start"]) == (4, 8000)
    # left: a2 and a7 by choice (a7 came back, but left during the period), a3 by failed payments
    assert (monthly["churned_voluntary"], monthly["churned_involuntary"]) == (2, 1)
    assert monthly["churn_rate"] == 3 / 4 and monthly["involuntary_churn_rate"] == 1 / 4
    assert monthly["mrr_churn_rate"] == 6000 / 8000
    # kept at the end: a1 and a7 (back on 20 Nov): 40.00 of 80.00
    assert monthly["net_revenue_retention"] == 0.5
    annual = rows[("annual", "USD")]
    assert (annual["members_at_start"], annual["mrr_at_start"], annual["churned"]) == (1, 1000, 0)
    assert annual["churn_rate"] == 0 and annual["lifetime_value_minor"] is None  # no churn yet
    dollars = rows[("all", "USD")]
    assert (dollars["members_at_start"], dollars["mrr_at_start"], dollars["churned"]) == (
        5,
        9000,
        3,
    )
    assert dollars["net_revenue_retention"] == 5000 / 9000
    # ARPU 90.00 / 5 = 18.00 a month; monthly churn 3/5 (a 30-day period): 18.00 / 0.6 = 30.00
    assert dollars["arpu_monthly_minor"] == 1800
    assert dollars["lifetime_value_minor"] == pytest.approx(3000)
    euros = rows[("all", "EUR")]
    assert (euros["members_at_start"], euros["mrr_at_start"], euros["churn_rate"]) == (2, 3000, 0.5)


def test_churn_for_some_products_only(history):
    with history.connect() as conn:
        rows = churn.churn(conn, NOVEMBER, products=["euro"])
    assert [(row["product"], row["currency"]) for row in rows] == [("euro", "EUR"), ("all", "EUR")]


def test_no_members_and_a_quiet_period(engine):
    with engine.connect() as conn:
        assert churn.churn(conn, NOVEMBER) == []
        assert recovery.recovery(conn, NOVEMBER)["overall"] == []
        assert metrics.deliveries(conn, NOVEMBER) == []
    joined(engine, "q1", JANUARY)
    with engine.connect() as conn:
        [row, total] = churn.churn(conn, NOVEMBER)
    assert row["churn_rate"] == 0 and row["net_revenue_retention"] == 1.0
    assert row["lifetime_value_minor"] is None and total["members_at_start"] == 1


def test_recovery_by_currency_category_and_what_recovered_it(history):
    """USD: a retry recovered a1's payment in 2 days; a new card paid a5's in 6 days; a3's
    ended canceled after 8. One before the period does not count. EUR: e1's is still open."""
    recovered(history, "a1", at("2026-11-02 00:00"), days=2, by="retry_1")
    failed_payment(
        history,
        "a5",
        at("2026-11-10 00:00"),
        amount_minor=12000,
        category="needs_member",
        closed=at("2026-11-16 00:00"),
        outcome="paid_elsewhere",
        recovered_by="card_update",
    )
    failed_payment(
        history,
        "a3",
        at("2026-11-05 00:00"),
        category="hard",
        closed=at("2026-11-13 00:00"),
        outcome="canceled",
    )
    recovered(history, "a2", at("2026-10-20 00:00"), days=1, by="retry_1")
    failed_payment(history, "e1", at("2026-11-20 00:00"), amount_minor=1500, currency="EUR")
    with history.connect() as conn:
        found = recovery.recovery(conn, NOVEMBER)
    overall = rows_by(found["overall"], "currency")
    usd = overall[("USD",)]
    assert (usd["opened"], usd["recovered"], usd["still_open"]) == (3, 2, 0)
    assert usd["recovery_rate"] == 2 / 3 and usd["recovered_minor"] == 14000
    assert usd["median_days_to_recover"] == pytest.approx(4.0)  # the middle of 2 and 6
    eur = overall[("EUR",)]
    assert (eur["opened"], eur["recovered"], eur["still_open"]) == (1, 0, 1)
    assert eur["median_days_to_recover"] is None
    by_category = rows_by(found["by_category"], "currency", "category")
    assert by_category[("USD", "hard")]["recovered"] == 0
    assert by_category[("USD", "needs_member")]["recovered_minor"] == 12000
    by_what = rows_by(found["by_recovered_by"], "currency", "by")
    assert by_what[("USD", "retry_1")]["recovered"] == 1
    assert by_what[("USD", "card_update")]["recovered"] == 1
    assert by_what[("USD", "not recovered")]["opened"] == 1


def test_deliveries_by_pipeline_channel_and_status(history):
    day = at("2026-11-08 09:00")
    message(history, "a1", "reminders:renewal_7d:a1:2026-11-15:email", day, "sent")
    message(history, "a5", "reminders:renewal_30d:a5:2026-12-08:email", day, "sent")
    message(history, "a2", "reminders:renewal_7d:a2:2026-11-15:email", day, "dead")
    message(history, "e1", "reminders:renewal_7d:e1:2026-11-15:webhook", day, "failed")
    message(
        history, "e2", "reminders:renewal_7d:e2:2026-12-15:email", at("2026-12-08 09:00"), "sent"
    )
    with history.connect() as conn:
        rows = metrics.deliveries(conn, NOVEMBER)
    assert [(r["channel"], r["status"], r["messages"]) for r in rows] == [
        ("email", "dead", 1),
        ("email", "sent", 2),
        ("webhook", "failed", 1),
    ]


def test_tenure_of_those_active_at_the_end(history):
    with history.connect() as conn:
        rows = rows_by(churn.tenure(conn, NOVEMBER.end), "currency")
    # USD: a1, a5, a7 since 1 January (334 days); EUR: e1
    assert rows[("USD",)]["active"] == 3 and rows[("EUR",)]["active"] == 1
    assert rows[("USD",)]["average_tenure_days"] == pytest.approx(334)


def test_the_trend_gives_each_period_its_churn_and_recovery(history):
    with history.connect() as conn:
        points = trend.trend(conn, trend.spans_ending(NOVEMBER, 3))
    dollars = [row for row in points if row["currency"] == "USD"]
    assert [row["period_end"] for row in dollars] == [
        NOVEMBER.previous().start,
        NOVEMBER.start,
        NOVEMBER.end,
    ]
    # 2 Sep to 2 Oct: nobody (a7 had left on 1 Sep); October: a6; November: a2, a3, a7
    assert [row["churn_rate"] for row in dollars] == [0, 1 / 6, 3 / 5]
    assert [row["recovery_rate"] for row in dollars] == [None, None, None]  # no failed payment


def test_the_arithmetic_agrees_with_the_definition_on_a_random_history(engine):
    """churn_over counts by buckets; `active_at` states the definition row by row. On 300
    random memberships (some leaving and coming back up to three times, some canceled with no
    cancellation recorded), both give the same members at every boundary."""
    import random
    from datetime import timedelta

    from sqlalchemy import func, select

    from memberflow.core.models import Cancellation, Subscription
    from tests.support.factories import update_subscription

    rng = random.Random(15)
    for n in range(300):
        name = f"r{n:03d}"
        begun = JANUARY + timedelta(days=rng.randrange(0, 330))
        joined(engine, name, begun, currency=rng.choice(["USD", "EUR"]))
        moment = begun
        for _ in range(rng.randrange(0, 4)):
            moment += timedelta(days=rng.randrange(1, 120))
            back = moment + timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.6 else None
            left(engine, name, moment, involuntary=rng.random() < 0.3, returned_at=back)
            if back is None:
                break
            moment = back
        if rng.random() < 0.05 and moment == begun:  # canceled, no cancellation recorded
            update_subscription(engine, name, status="canceled", current_period_end=begun)
    spans = trend.spans_ending(NOVEMBER, 11)
    boundaries = [spans[0].start, *(span.end for span in spans)]
    subscriptions = Subscription.__table__
    with engine.connect() as conn:
        periods = churn.churn_over(conn, boundaries)
        for k, rows in enumerate(periods):
            counted = {r["currency"]: r["members_at_start"] for r in rows if r["product"] == "all"}
            query = (
                select(subscriptions.c.currency, func.count())
                .where(metrics.active_at(boundaries[k]))
                .group_by(subscriptions.c.currency)
            )
            expected = dict(conn.execute(query).all())
            assert {c: n for c, n in counted.items() if n} == expected, boundaries[k]
            churned = {r["currency"]: r["churned"] for r in rows if r["product"] == "all"}
            gone = Cancellation.__table__
            query = (
                select(subscriptions.c.currency, func.count(func.distinct(subscriptions.c.id)))
                .select_from(gone.join(subscriptions, subscriptions.c.id == gone.c.subscription_id))
                .where(
                    gone.c.access_end > boundaries[k],  # active at the start, gone at the end
                    gone.c.access_end <= boundaries[k + 1],
                    metrics.active_at(boundaries[k]),
                )
                .group_by(subscriptions.c.currency)
            )
            expected = dict(conn.execute(query).all())
            assert {c: n for c, n in churned.items() if n} == expected, boundaries[k]
