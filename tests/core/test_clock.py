"""Time travel and real runs never share a database (memberflow.core.clock)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from memberflow.core import clock
from memberflow.core.clock import MomentRefused, Role, judge
from tests.support.clock import at

NOW = at("2026-12-03 09:00")


def test_a_real_run_acts_for_now_the_past_and_a_little_clock_skew():
    for moment in (NOW, NOW - timedelta(days=400), NOW + timedelta(minutes=10)):
        assert judge(moment, now=NOW, simulate=None, role=Role.real).simulate is False
    assert judge(NOW, now=NOW, simulate=None, role=None).mark is Role.real


def test_a_real_run_for_the_future_is_refused_naming_the_flag_that_simulates():
    with pytest.raises(MomentRefused) as refused:
        judge(at("2027-12-01 09:00"), now=NOW, simulate=None, role=Role.real)
    message = str(refused.value)
    assert "363 days ahead of the clock" in message
    assert "--simulate" in message and "--dry-run" in message
    with pytest.raises(MomentRefused, match="2 hours ahead"):
        judge(NOW + timedelta(hours=2, minutes=5), now=NOW, simulate=False, role=None)


def test_a_simulation_is_refused_on_a_database_with_real_runs():
    with pytest.raises(MomentRefused, match="holds real runs .since 2026-11-01."):
        judge(NOW, now=NOW, simulate=True, role=Role.real, since=at("2026-11-01 00:00"))


def test_a_real_run_is_refused_on_a_simulation_and_told_how_to_go_on():
    with pytest.raises(MomentRefused, match="is a simulation .*pass --simulate"):
        judge(NOW, now=NOW, simulate=False, role=Role.simulation)


def test_a_simulation_acts_for_any_moment_and_marks_a_new_database():
    verdict = judge(at("2030-01-01 09:00"), now=NOW, simulate=True, role=None)
    assert verdict == clock.Verdict(simulate=True, mark=Role.simulation)
    follows = judge(at("2030-01-01 09:00"), now=NOW, simulate=None, role=Role.simulation)
    assert follows == clock.Verdict(simulate=True, mark=None)


@pytest.fixture
def new_engine(engine):
    """A database no run has written to yet (the test fixture's is a simulation)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM database_role"))
    return engine


def test_the_first_run_decides_the_databases_role_for_good(new_engine):
    with new_engine.begin() as conn:
        assert clock.admit(conn, NOW, simulate=None, now=NOW) is False
        assert clock.role_of(conn) == (Role.real, NOW)
        with pytest.raises(MomentRefused):
            clock.admit(conn, NOW + timedelta(days=30), simulate=None, now=NOW)
        with pytest.raises(MomentRefused):
            clock.admit(conn, NOW, simulate=True, now=NOW)
        assert clock.role_of(conn)[0] is Role.real


def test_a_first_simulation_makes_a_simulation_database(new_engine):
    with new_engine.begin() as conn:
        assert clock.admit(conn, at("2027-06-01 09:00"), simulate=True, now=NOW) is True
        assert clock.admit(conn, at("2027-06-02 09:00"), simulate=None, now=NOW) is True
        with pytest.raises(MomentRefused):
            clock.admit(conn, NOW, simulate=False, now=NOW)


def test_the_role_is_kept_as_aware_utc(new_engine):
    with new_engine.begin() as conn:
        clock.mark(conn, Role.real, datetime(2026, 12, 3, 10, tzinfo=UTC))
        assert clock.role_of(conn)[1] == datetime(2026, 12, 3, 10, tzinfo=UTC)
