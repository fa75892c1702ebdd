"""`memberflow sync membermouse` and `memberflow reconcile membermouse`: MemberMouse's API
cannot list members, so each member memberflow knows is asked after (getMember), against
tests/support/fake_membermouse.py (ours, in the wire format MemberMouse's docs describe). What
comes back goes through the MemberMouse provider's own `translate` and `apply_change`."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from memberflow.core.models import Member, Subscription
from tests.support.factories import add_subscription
from tests.support.fake_membermouse import KEY, SECRET, FakeMemberMouse

RENEWS = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)


@pytest.fixture
def site(engine):
    """60 MemberMouse members memberflow knows (imported or told by notifications), all active
    on level 3, and one Stripe member the refresh leaves alone."""
    with FakeMemberMouse() as fake:
        for n in range(60):
            fake.add(n)
            add_subscription(
                engine,
                f"mm-{n}-3",
                member=str(n),
                product="3",
                current_period_end=RENEWS,
                email=f"mm{n}@example.com",
            )
        add_subscription(engine, "sub_stripe", member="cus_1", current_period_end=RENEWS)
        yield fake


def run(*args: str, site, secret: str = SECRET):
    from memberflow.cli import app

    more = ["--api-url", site.url, "--api-key", KEY, "--api-secret", secret]
    more += ["--requests-per-second", "1000"]
    return CliRunner().invoke(app, [*args, *more], catch_exceptions=False)


def status_of(engine, subscription: str) -> tuple[str, bool | None]:
    with engine.connect() as conn:
        return conn.execute(
            select(Subscription.status, Subscription.cancel_at_period_end).where(
                Subscription.external_id == subscription
            )
        ).one()


def test_reconcile_asks_after_each_known_member_and_applies_what_changed(settings, engine, site):
    first = run("reconcile", "membermouse", site=site)
    assert first.exit_code == 2, first.output  # names and the level's name were new to it
    assert "cus_1" not in site.asked and len(site.asked) == 60
    quiet = run("reconcile", "membermouse", site=site)
    assert quiet.exit_code == 0 and "no webhook was missing" in quiet.output, quiet.output

    # while the notifications were lost: one canceled, one asked to cancel at period end, one
    # renamed, one deleted at MemberMouse
    site.add(5, status="2")
    site.add(6, status="9")
    site.members["7"]["last_name"] = "Renamed"
    del site.members["8"]
    drift = run("reconcile", "membermouse", site=site)
    assert drift.exit_code == 2, drift.output
    assert "differed from MemberMouse on 3 member(s)" in drift.output
    assert "skipped member 8: MemberMouse no longer has this member" in drift.output
    assert status_of(engine, "mm-5-3")[0] == "canceled"
    assert status_of(engine, "mm-6-3") == ("active", True)
    assert status_of(engine, "mm-8-3")[0] == "active"  # left as it was: nothing to go on
    with engine.connect() as conn:
        assert (
            conn.execute(select(Member.last_name).where(Member.external_id == "7")).scalar_one()
            == "Renamed"
        )


def test_wrong_credentials_stop_with_what_to_do(settings, engine, site):
    done = run("sync", "membermouse", site=site, secret="wrong")
    assert done.exit_code == 1
    assert "MemberMouse refused the API key and secret (Invalid API credentials)" in done.output
