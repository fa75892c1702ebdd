"""Experiments on a real database: the holdout gets nothing, each variant its own words, the
assignment is recorded on the touchpoint and survives reruns, and the results count each
variant's goal with its interval."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from memberflow.analytics.experiments import results
from memberflow.analytics.period import Period
from memberflow.core.dunning_models import DunningCase
from memberflow.core.models import Invoice, Touchpoint
from memberflow.messaging import experiments
from memberflow.messaging.experiments import CONTROL, HOLDOUT, ExperimentPlan
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from memberflow.pipelines.reminders.results import report_sections
from tests.support.clock import at
from tests.support.delivery import deliver_all, plan_all
from tests.support.factories import add_subscription, update_subscription
from tests.support.outputs import Recorder

AS_OF = at("2026-12-01 09:00")
RENEWS = at("2026-12-08 10:00")
MEMBERS = 120
SUBJECTS = {
    "en": "Renewing on {{ due_date }}",
    "fr": "Renouvellement le {{ due_date }}",
    "es": "Renovación el {{ due_date }}",
    "de": "Verlängerung am {{ due_date }}",
}
EXPERIMENT = ExperimentPlan(
    name="renewal-subject",
    pipeline="reminders",
    step="renewal_7d",
    holdout=0.25,
    variants=[{"name": "short", "share": 0.4, "subjects": SUBJECTS}],
)


@pytest.fixture
def members(engine):
    for n in range(MEMBERS):
        add_subscription(engine, f"sub_{n}", member=f"cus_{n}", current_period_end=RENEWS)
    with engine.begin() as conn:
        experiments.start(conn, EXPERIMENT, AS_OF - timedelta(days=1))


def recorded(engine) -> dict[str, tuple[str, str | None]]:
    """subscription external id -> (status, variant) of its renewal reminder"""
    with engine.connect() as conn:
        rows = conn.execute(select(Touchpoint.key, Touchpoint.status, Touchpoint.variant))
        return {key.split(":")[2]: (status, variant) for key, status, variant in rows}


def test_the_holdout_gets_nothing_and_each_variant_its_own_subject(engine, settings, members):
    pipeline = ReminderPipeline()
    plan_all(engine, pipeline, AS_OF, AS_OF - timedelta(days=1))
    output = Recorder()
    tally = deliver_all(engine, settings, pipeline, output, AS_OF)

    expected = {f"sub_{n}": EXPERIMENT.assign(f"cus_{n}") for n in range(MEMBERS)}
    found = recorded(engine)
    assert {sub: variant for sub, (_, variant) in found.items()} == expected
    held = {sub for sub, name in expected.items() if name == HOLDOUT}
    assert 10 < len(held) < 50  # a quarter of 120, give or take
    assert {sub for sub, (status, _) in found.items() if status == "skipped"} == held
    assert tally["renewal_7d"]["held_out"] == len(held)
    sent = {message.key.split(":")[2]: message for message in output.sent}
    assert set(sent) == set(expected) - held
    for sub, message in sent.items():
        if expected[sub] == "short":
            assert message.subject == "Renewing on December 8, 2026"
        else:
            assert expected[sub] == CONTROL and "renews" in message.subject

    # a rerun sends nothing again and changes nobody's variant
    again = Recorder()
    deliver_all(engine, settings, pipeline, again, AS_OF + timedelta(hours=2))
    assert again.sent == [] and recorded(engine) == found


def test_a_stopped_experiment_assigns_nobody_new(engine, settings, members):
    with engine.begin() as conn:
        assert experiments.stop(conn, EXPERIMENT.name, AS_OF)
        assert not experiments.stop(conn, EXPERIMENT.name, AS_OF)  # stopped already
    plan_all(engine, ReminderPipeline(), AS_OF, AS_OF - timedelta(days=1))
    output = Recorder()
    deliver_all(engine, settings, ReminderPipeline(), output, AS_OF)
    assert len(output.sent) == MEMBERS
    assert {variant for _, variant in recorded(engine).values()} == {None}


def test_one_step_takes_one_experiment_at_a_time_and_a_name_once(engine, members):
    other = EXPERIMENT.model_copy(update={"name": "another"})
    with engine.begin() as conn, pytest.raises(ValueError, match="already tests reminders/renew"):
        experiments.start(conn, other, AS_OF)
    with engine.begin() as conn, pytest.raises(ValueError, match="exists"):
        experiments.start(conn, EXPERIMENT, AS_OF)


def test_results_count_each_variants_renewals_against_the_holdout(engine, settings, members):
    """Members of the holdout all renew; of the others, those with an even number fail to pay:
    the reminded do worse here, by construction, and the report must say it and how sure."""
    pipeline = ReminderPipeline()
    plan_all(engine, pipeline, AS_OF, AS_OF - timedelta(days=1))
    deliver_all(engine, settings, pipeline, Recorder(), AS_OF)
    renewed = RENEWS + timedelta(days=30)
    failed = set()
    for n in range(MEMBERS):
        variant = EXPERIMENT.assign(f"cus_{n}")
        update_subscription(engine, f"sub_{n}", current_period_end=renewed)
        if variant != HOLDOUT and n % 2 == 0:
            failed.add(n)
            _failed_payment(engine, n, RENEWS)
    rows = results_now(engine)
    by_variant = {row["variant"]: row for row in rows}
    assert [row["variant"] for row in rows] == [HOLDOUT, "short", CONTROL]
    for name, row in by_variant.items():
        members = [n for n in range(MEMBERS) if EXPERIMENT.assign(f"cus_{n}") == name]
        assert row["messages"] == len(members)
        assert row["reached"] == len([n for n in members if n not in failed])
        assert row["goal"] == "renewed"
        assert row["rate_low"] <= row["rate"] <= row["rate_high"]
    assert by_variant[HOLDOUT]["rate"] == 1.0 and by_variant[HOLDOUT]["verdict"] == "the comparison"
    short = by_variant["short"]
    assert short["vs"] == HOLDOUT and short["difference"] < 0
    assert short["verdict"].startswith("significant:") and "fewer than holdout" in short["verdict"]


def test_a_small_difference_is_called_not_significant_yet(engine, settings, members):
    pipeline = ReminderPipeline()
    plan_all(engine, pipeline, AS_OF, AS_OF - timedelta(days=1))
    deliver_all(engine, settings, pipeline, Recorder(), AS_OF)
    for n in range(MEMBERS):  # everyone renews but one reminded member
        update_subscription(engine, f"sub_{n}", current_period_end=RENEWS + timedelta(days=30))
    reminded = next(n for n in range(MEMBERS) if EXPERIMENT.assign(f"cus_{n}") == "short")
    _failed_payment(engine, reminded, RENEWS)
    short = next(row for row in results_now(engine) if row["variant"] == "short")
    assert short["verdict"].startswith("not significant yet: the difference could be anywhere")
    assert short["difference_low"] < 0 < short["difference_high"]


def results_now(engine) -> list[dict]:
    with engine.connect() as conn:
        return results(conn, Period(AS_OF - timedelta(days=30), AS_OF + timedelta(days=60)))


def _failed_payment(engine, n: int, when: datetime) -> None:
    """An unrecovered failed payment of member n's renewal (its dunning case still open)."""
    with engine.begin() as conn:
        sub_id = conn.execute(
            select(Touchpoint.subscription_id).where(Touchpoint.key.contains(f":sub_{n}:"))
        ).scalar_one()
        invoice_id = conn.execute(
            Invoice.__table__.insert().values(
                external_id=f"in_{n}", subscription_id=sub_id, amount_minor=1999, currency="USD"
            )
        ).inserted_primary_key[0]
        conn.execute(
            DunningCase.__table__.insert().values(
                invoice_id=invoice_id,
                subscription_id=sub_id,
                category="soft",
                opened_at=when.astimezone(UTC),
            )
        )


def test_the_report_sets_reminded_renewals_against_the_holdouts(engine, settings, members):
    pipeline = ReminderPipeline()
    plan_all(engine, pipeline, AS_OF, AS_OF - timedelta(days=1))
    deliver_all(engine, settings, pipeline, Recorder(), AS_OF)
    placed = {n: EXPERIMENT.assign(f"cus_{n}") for n in range(MEMBERS)}
    failing = [n for n in range(MEMBERS) if n % 3 == 0]
    for n in failing:
        _failed_payment(engine, n, RENEWS + timedelta(hours=2))
    _failed_payment(engine, 1, RENEWS + timedelta(days=9))  # a later bill: not this renewal's
    with engine.connect() as conn:
        rows = report_sections(conn, AS_OF, AS_OF + timedelta(days=30), None)
    table = {row["group"]: row for row in rows["renewals after a reminder"]}
    held = [n for n, name in placed.items() if name == HOLDOUT]
    assert table["not reminded"]["renewals"] == len(held)
    assert table["reminded"]["renewals"] == MEMBERS - len(held)
    assert table["not reminded"]["failed_payments"] == len([n for n in held if n % 3 == 0])
    reminded_failed = len(failing) - table["not reminded"]["failed_payments"]
    assert table["reminded"]["failed_payments"] == reminded_failed
    assert table["reminded"]["failed_share"] == reminded_failed / (MEMBERS - len(held))
