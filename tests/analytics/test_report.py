"""The report where ops read it: markdown and tables (pure), `memberflow report` in its three
formats, and the retention-report flow's artifacts under stable keys in Prefect."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from memberflow.analytics.period import Period
from memberflow.analytics.report import TABLES, build, markdown
from memberflow.cli import app
from tests.support.clock import at
from tests.support.history import NOVEMBER, joined, left, message, recovered


def test_the_summary_gives_each_currency_its_numbers_and_their_change(history):
    left(history, "a1", at("2026-10-10 00:00"), returned_at=at("2026-10-12 00:00"))  # October
    recovered(history, "a1", at("2026-11-02 00:00"), days=2, by="retry_1")
    text = markdown(build(history, NOVEMBER))
    assert text.startswith("# Retention, 2026-11-01 to 2026-12-01\n")
    assert "## USD" in text and "## EUR" in text
    # 3 of 5 dollar members left in November; in October, 2 of 6 (a6, and a1 who came back)
    assert "| member churn | 60.0% (2 by choice, 1 by failed payments) | (+26.7 pts) |" in text
    assert "| failed payments recovered | 100.0% (1 of 1, $20.00) |" in text
    assert "| lifetime value | $30.00 | |" in text


def test_a_period_with_no_members_says_so(engine):
    text = markdown(build(engine, NOVEMBER))
    assert "No subscriptions were active at the start of the period." in text


def test_the_cli_prints_exports_csv_and_json(history, settings):
    runner = CliRunner()
    window = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-12-01T00:00:00Z"]
    shown = runner.invoke(app, ["report", *window])
    assert shown.exit_code == 0, shown.output
    assert "# Retention, 2026-11-01 to 2026-12-01" in shown.output and "\nchurn\n" in shown.output
    exported = runner.invoke(app, ["report", *window, "--format", "csv", "--table", "churn"])
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert {(row["product"], row["currency"]) for row in rows} >= {("all", "USD"), ("all", "EUR")}
    as_json = json.loads(runner.invoke(app, ["report", *window, "--format", "json"]).output)
    assert set(as_json) >= {"period", *TABLES, "surveys-nps", "cancellations-win-backs"}
    euro = [row for row in as_json["churn"] if row["product"] == "euro"]
    assert euro[0]["churn_rate"] == 0.5
    only = json.loads(
        runner.invoke(app, ["report", *window, "--product", "annual", "--format", "json"]).output
    )
    assert {row["product"] for row in only["churn"]} == {"annual", "all"}


def test_the_cli_refuses_a_backwards_period_and_an_unknown_table(settings):
    runner = CliRunner()
    backwards = runner.invoke(app, ["report", "--from", "2026-12-01", "--to", "2026-11-01"])
    assert backwards.exit_code == 1 and "before it starts" in backwards.output
    unknown = runner.invoke(app, ["report", "--format", "csv", "--table", "nope"])
    assert unknown.exit_code == 1 and "is not one of churn" in unknown.output


def test_a_period_is_aware_and_forwards():
    with pytest.raises(ValueError, match="timezone-aware"):
        Period(at("2026-11-01 00:00").replace(tzinfo=None), at("2026-12-01 00:00"))
    assert Period.ending(at("2026-12-01 00:00"), 30) == NOVEMBER
    assert NOVEMBER.previous() == Period(at("2026-10-02 00:00"), NOVEMBER.start)


def test_pipelines_add_their_own_sections_win_backs_by_message_and_offer(engine):
    """Two came back in November: m-w1 after the 14-day win-back with its offer, m-w2 on their
    own; m-w3 came back in October (not this period)."""
    for name in ("w1", "w2", "w3"):
        joined(engine, name, at("2026-01-01 00:00"))
    win_back = "cancellations:win_back_14d:w1:2026-10-20:email"
    message(engine, "w1", win_back, at("2026-11-03 09:00"), "sent")
    left(
        engine,
        "w1",
        at("2026-10-20 00:00"),
        returned_at=at("2026-11-05 00:00"),
        won_back_by=win_back,
        won_back_offer="COMEBACK",
    )
    left(engine, "w2", at("2026-10-21 00:00"), returned_at=at("2026-11-25 00:00"))
    left(engine, "w3", at("2026-09-01 00:00"), returned_at=at("2026-10-05 00:00"))
    tables = build(engine, NOVEMBER).tables()
    assert tables["cancellations-win-backs"] == [
        {
            "currency": "USD",
            "won_back_by": "on their own",
            "offer": "",
            "came_back": 1,
            "mrr_won_back": 2000.0,
        },
        {
            "currency": "USD",
            "won_back_by": "win_back_14d",
            "offer": "COMEBACK",
            "came_back": 1,
            "mrr_won_back": 2000.0,
        },
    ]
    assert [row["survey"] for row in tables["surveys-responses"]] == []  # nobody was asked


def test_the_trend_chart_is_a_picture_the_summary_carries_inline(history):
    from memberflow.analytics.chart import trend_png

    report = build(history, NOVEMBER)
    png = trend_png(report.trend, "The last 12 periods of 30 days")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    assert "](data:image/png;base64," in markdown(report, chart=True)
    assert "data:image" not in markdown(report)  # the terminal gets no picture
    # twelve 30-day periods back to December 2025: the first began before anyone joined
    assert len([row for row in report.tables()["trend"] if row["currency"] == "USD"]) == 11


def test_a_period_before_memberflow_recorded_anything_is_no_comparison(engine):
    """Members imported with old start dates, nothing recorded before November: October's
    zero churn is not a figure to compare with."""
    for name in ("a1", "a2"):
        joined(engine, name, at("2026-01-01 00:00"))
    left(engine, "a2", at("2026-11-10 00:00"))
    report = build(engine, NOVEMBER)
    assert report.previous is None
    text = markdown(report)
    assert (
        "| member churn | 50.0% (1 by choice, 0 by failed payments) | (no earlier period) |" in text
    )
    assert "pts" not in text


def test_artifact_rows_show_money_in_its_currency_and_rates_as_percentages():
    from memberflow.analytics.report import for_people

    row = {
        "product": "all",
        "currency": "USD",
        "members_at_start": 3,
        "mrr_at_start": 140916.6667,
        "arpu_monthly_minor": 2000.0,
        "lifetime_value_minor": None,
        "churn_rate": 0.1234,
    }
    assert for_people(row) == {
        "product": "all",
        "currency": "USD",
        "members_at_start": 3,
        "mrr_at_start": "$1,409.17",
        "arpu_monthly": "$20.00",
        "lifetime_value_minor": None,
        "churn_rate": "12.3%",
    }
