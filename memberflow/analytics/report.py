"""The retention report: every metric for a period beside the one before, as the headline
markdown the Prefect UI shows, and as tables (for artifacts, the CLI's table, CSV and JSON)."""

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, literal, select

from memberflow.analytics import churn, experiments, metrics, recovery, trend
from memberflow.analytics.chart import markdown_image, trend_png
from memberflow.analytics.period import Period
from memberflow.core.db import reading
from memberflow.core.dunning_models import DunningCase
from memberflow.core.models import Cancellation, InboxEvent, Touchpoint
from memberflow.core.money import format_money
from memberflow.messaging import registry
from memberflow.messaging.registry import load

# the breakdowns, by the name their artifact, CSV export and JSON key carry
TABLES = (
    "churn",
    "recovery",
    "recovery-by-category",
    "recovery-by-what",
    "deliveries",
    "tenure",
    "trend",
    "experiments",
)
TREND_PERIODS = 12


@dataclass
class Report:
    period: Period
    products: list[str] = field(default_factory=list)
    churn: list[dict] = field(default_factory=list)
    recovery: dict[str, list[dict]] = field(default_factory=dict)
    deliveries: list[dict] = field(default_factory=list)
    tenure: list[dict] = field(default_factory=list)
    trend: list[dict] = field(default_factory=list)  # churn and recovery, the last 12 periods
    experiments: list[dict] = field(default_factory=list)  # per variant, against the holdout
    # each pipeline's own sections (its Registration's `report`), by "<pipeline>-<title>"
    sections: dict[str, list[dict]] = field(default_factory=dict)
    previous: "Report | None" = None

    def tables(self) -> dict[str, list[dict]]:
        """Each breakdown by name, its rows rounded for people."""
        recovery = [self.recovery.get(part, []) for part in ("by_product", "by_category")]
        found = [
            self.churn,
            *recovery,
            self.recovery.get("by_recovered_by", []),
            self.deliveries,
            self.tenure,
            self.trend,
            self.experiments,
        ]
        tables = {**dict(zip(TABLES, found, strict=True)), **self.sections}
        return {name: [_rounded(row) for row in rows] for name, rows in tables.items()}


def build(engine: Engine, period: Period, products: list[str] | None = None) -> Report:
    """The report for `period` and for the one before it (for the changes).

    Its scans are independent, so they run side by side, each on a connection of its own (both
    databases' drivers let go of the interpreter while a query runs): the longest one, not their
    sum, sets the time (docs/performance.md)."""
    spans = trend.spans_ending(period, TREND_PERIODS)
    boundaries = [spans[0].start, *(s.end for s in spans)]
    before = period.previous()
    with ThreadPoolExecutor(4, thread_name_prefix="memberflow-report") as pool:

        def read(function, *args, **kwargs) -> Future:
            return pool.submit(_on_a_connection, engine, function, *args, **kwargs)

        churned = read(churn.churn_over, boundaries, products)
        tested = read(experiments.results, period)
        recovered = read(recovery.recovery, period, products)
        recovered_over = read(recovery.recovery_over, boundaries, products)
        delivered = read(metrics.deliveries, period)
        sections = read(pipeline_sections, period, products)
        known_before = read(recorded_anything, before)
        over = churned.result()
        report = Report(
            period=period,
            products=list(products or []),
            churn=over[-1],
            recovery=recovered.result(),
            deliveries=delivered.result(),
            tenure=churn.tenure_of(over[-1]),
            sections=sections.result(),
            trend=trend.trend_points(spans, over, recovered_over.result()),
            experiments=tested.result(),
        )
    # the period before: its headline numbers, for the changes, from the trend's scans; none
    # when memberflow recorded nothing then (it was not running yet: its zeros mean nothing)
    if not known_before.result():
        return report
    rates = recovered_over.result()[-2]
    overall = [{"currency": c, "recovery_rate": rate} for c, rate in sorted(rates.items())]
    report.previous = Report(period=before, churn=over[-2], recovery={"overall": overall})
    return report


def recorded_anything(conn: Connection, period: Period) -> bool:
    """Whether memberflow recorded anything in `period`: a message, a webhook, a dunning case
    or a cancellation. Before its first record it was not running, and a period's figures
    rebuilt from imported start dates alone (no cancellation known) are no comparison."""
    moments = (
        Touchpoint.__table__.c.created_at,  # when memberflow recorded it, not when it was due
        InboxEvent.__table__.c.received_at,
        DunningCase.__table__.c.opened_at,
        Cancellation.__table__.c.recorded_at,
    )
    return any(
        conn.execute(
            select(literal(1)).where(moment >= period.start, moment < period.end).limit(1)
        ).first()
        for moment in moments
    )


def _on_a_connection(engine: Engine, function, *args, **kwargs):
    with engine.connect() as conn:
        return function(reading(conn), *args, **kwargs)


def pipeline_sections(conn, period: Period, products: list[str] | None) -> dict:
    """What each registered pipeline adds to the report, its titles made artifact keys."""
    sections = {}
    for registration in registry.registered().values():
        if registration.report:
            found = load(registration.report)(conn, period.start, period.end, products)
            for title, rows in found.items():
                key = re.sub(r"[^a-z0-9]+", "-", f"{registration.name}-{title}".lower())
                sections[key] = rows
    return sections


def for_people(row: dict) -> dict:
    """A table row as the UI shows it: money in its currency (`$1,409.17`, not 140916.6667
    minor units, the `_minor` dropped from its name), rates as percentages. CSV and JSON keep
    the numbers (`memberflow report --format csv`)."""
    currency = row.get("currency")
    shown = {}
    for name, value in row.items():
        if currency and (name.endswith("_minor") or name.startswith("mrr_")) and value is not None:
            shown[name.removesuffix("_minor")] = _money(value, currency)
        elif (name.endswith("_rate") or name == "net_revenue_retention") and isinstance(
            value, float
        ):
            shown[name] = _percent(value)
        else:
            shown[name] = _plain(value)
    return shown


def _rounded(row: dict) -> dict:
    """For people and for JSON: fractions to 4 places, moments as ISO text."""
    return {k: _plain(v) for k, v in row.items()}


def _plain(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    points = (now - before) * 100
    return f" ({points:+.1f} pts)" if abs(points) >= 0.05 else " (no change)"


def _money(minor: float | None, currency: str) -> str:
    return "n/a" if minor is None else format_money(round(minor), currency, "en")


def markdown(report: Report, chart: bool = False) -> str:
    """The headline numbers per currency, each with its change from the previous period; with
    `chart`, the trend of churn and recovery as an inline image (for the Prefect UI)."""
    previous = report.previous or Report(report.period.previous())
    before = {row["currency"]: row for row in previous.churn if row["product"] == "all"}
    recovered_before = {row["currency"]: row for row in previous.recovery.get("overall", [])}
    if report.previous is None:  # memberflow recorded nothing then: say so, not +10.4 pts

        def change(now, before) -> str:
            return " (no earlier period)"
    else:
        change = _change
    scope = f" for {', '.join(report.products)}" if report.products else ""
    lines = [f"# Retention, {report.period.label()}{scope}", ""]
    overall = [row for row in report.churn if row["product"] == "all"]
    if not overall:
        lines.append("No subscriptions were active at the start of the period.")
    recovery = {row["currency"]: row for row in report.recovery.get("overall", [])}
    for row in overall:
        currency, prev = row["currency"], before.get(row["currency"], {})
        rec, rec_prev = recovery.get(currency, {}), recovered_before.get(currency, {})
        lines += [
            f"## {currency}",
            "",
            "| measure | this period | change |",
            "| --- | --- | --- |",
            f"| members at the start | {row['members_at_start']} | |",
            f"| member churn | {_percent(row['churn_rate'])} "
            f"({row['churned_voluntary']} by choice, {row['churned_involuntary']} by failed "
            f"payments) |{change(row['churn_rate'], prev.get('churn_rate'))} |",
            f"| revenue (MRR) churn | {_percent(row['mrr_churn_rate'])} "
            f"|{change(row['mrr_churn_rate'], prev.get('mrr_churn_rate'))} |",
            f"| net revenue retention | {_percent(row['net_revenue_retention'])} "
            f"|{change(row['net_revenue_retention'], prev.get('net_revenue_retention'))} |",
            f"| failed payments recovered | {_percent(rec.get('recovery_rate'))} "
            f"({rec.get('recovered', 0)} of {rec.get('opened', 0)}, "
            f"{_money(rec.get('recovered_minor', 0), currency)}) "
            f"|{change(rec.get('recovery_rate'), rec_prev.get('recovery_rate'))} |",
            f"| lifetime value | {_money(row['lifetime_value_minor'], currency)} | |",
            "",
        ]
    sent = sum(r["messages"] for r in report.deliveries if r["status"] == "sent")
    failing = sum(r["messages"] for r in report.deliveries if r["status"] in ("failed", "dead"))
    lines.append(f"Messages due in the period: {sent} sent, {failing} failed or dead-lettered.")
    lines += _experiments_markdown(report.experiments)
    if chart and report.trend:
        title = f"The last {TREND_PERIODS} periods of {report.period.days:.0f} days"
        lines += [
            "",
            markdown_image(trend_png(report.trend, title), f"Churn and recovery, {title}"),
        ]
    return "\n".join(lines) + "\n"


def _experiments_markdown(rows: list[dict]) -> list[str]:
    """Each experiment's variants: the goal's rate and the difference from the comparison, each
    with its 95% interval, and the verdict in a word (the tables carry it in full)."""
    lines = []
    for name in dict.fromkeys(row["experiment"] for row in rows):
        mine = [row for row in rows if row["experiment"] == name]
        lines += [
            "",
            f"## Experiment {name} ({mine[0]['step']}, goal: {mine[0]['goal']})",
            "",
            "| variant | share | messages | rate (95% interval) | difference | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in mine:
            rate = (
                f"{_percent(row['rate'])} ({row['rate_low'] * 100:.1f} to "
                f"{row['rate_high'] * 100:.1f})"
                if row["messages"]
                else "n/a"
            )
            gap = (
                f"{_points(row['difference'])} ({row['difference_low'] * 100:+.1f} to "
                f"{row['difference_high'] * 100:+.1f})"
                if row["difference"] is not None
                else ""
            )
            verdict = row["verdict"].split(":")[0].split(" (")[0]
            lines.append(
                f"| {row['variant']} | {row['share']} | {row['messages']} | {rate} | {gap} "
                f"| {verdict} |"
            )
    return lines


def _points(fraction: float) -> str:
    return f"{fraction * 100:+.1f} pts"
