"""`memberflow sync memberpress` and `memberflow reconcile memberpress` against a MemberPress
site's REST API in its wire format (tests/support/fake_memberpress.py: ours, as no MemberPress
runs here). The objects go through the MemberPress provider's own `translate` and the ingress's
own `apply_change`."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from memberflow.core.models import Invoice, Member, Product, Subscription, Touchpoint
from memberflow.ingress.changes import Received
from memberflow.ingress.providers import memberpress
from tests.support.fake_memberpress import KEY, FakeMemberPress

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def site():
    """A MemberPress site of 250 members (three pages at 100): 240 paid up, 6 whose last
    payment failed, 4 who cancelled."""
    with FakeMemberPress() as fake:
        for n in range(250):
            failed, cancelled = 240 <= n < 246, n >= 246
            fake.add_member(n, NOW, paid=not failed, status="cancelled" if cancelled else "active")
        yield fake


def run(*args: str, site=None, key: str = KEY):
    from memberflow.cli import app

    more = ["--site", site.url, "--api-key", key, "--requests-per-second", "1000"]
    return CliRunner().invoke(app, [*args, *more], catch_exceptions=False)


def rows_of(output: str) -> dict[str, list[str]]:
    lines = [line.split() for line in output.splitlines()]
    return {cells[0]: cells[1:] for cells in lines if cells and cells[0] in KINDS}


KINDS = ("member", "subscription", "invoice")


def test_a_site_comes_in_with_paid_through_dates_and_failed_payments(settings, engine, site):
    done = run("sync", "memberpress", site=site)
    assert done.exit_code == 0, done.output
    rows = rows_of(done.output)
    assert rows["member"][:3] == ["250", "0", "0"] and rows["subscription"][:3] == ["250", "0", "0"]
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                select(Subscription.status, func.count()).group_by(Subscription.status)
            ).all()
        )
        assert statuses == {"active": 246, "canceled": 4}
        paid_through = conn.execute(
            select(Subscription.current_period_end).where(Subscription.external_id == "500")
        ).scalar_one()
        # the latest completed payment's expires_at: 40 days ago + 30 + 30
        assert paid_through == NOW - timedelta(days=40) + timedelta(days=60)
        open_invoices = conn.execute(
            select(func.count()).where(Invoice.status == "open")
        ).scalar_one()
        assert open_invoices == 6  # the dunning cases the next dunning run opens
        assert conn.execute(select(Product.name)).scalars().all() == ["Silver Membership"]
        cards = set(conn.execute(select(Subscription.card_last4)).scalars())
        assert cards == {"4242"}

    again = run("sync", "memberpress", site=site)
    for kind, cells in rows_of(again.output).items():
        assert cells[:2] == ["0", "0"], (kind, again.output)
    with engine.connect() as conn:  # a sync starts no message by itself
        assert conn.execute(select(func.count()).select_from(Touchpoint)).scalar_one() == 0


def test_reconcile_applies_what_the_webhooks_missed_and_says_so(settings, engine, site):
    assert run("sync", "memberpress", site=site).exit_code == 0
    quiet = run("reconcile", "memberpress", site=site)
    assert quiet.exit_code == 0 and "no webhook was missing" in quiet.output

    # the ingress was down: a member cancelled, another's renewal failed, a third changed name
    site.subscriptions[0]["status"] = "cancelled"
    site.pay(1, NOW, paid=False)
    site.members[2]["last_name"] = "Renamed"
    drift = run("reconcile", "memberpress", site=site)
    assert drift.exit_code == 2, drift.output
    assert (
        "differed from MemberPress on 1 member(s), 1 subscription(s), 1 invoice(s)" in drift.output
    )
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(Subscription.status).where(Subscription.external_id == "500")
            ).scalar_one()
            == "canceled"
        )
        assert conn.execute(select(func.count()).where(Invoice.status == "open")).scalar_one() == 7
        assert (
            conn.execute(select(Member.last_name).where(Member.external_id == "2002")).scalar_one()
            == "Renamed"
        )


def test_a_cut_sync_resumes_on_the_page_it_stopped(settings, engine, site):
    from memberflow.sync import checkpoint
    from memberflow.sync import memberpress as sync
    from memberflow.sync.pacing import Pace

    def interrupted(summary):
        if summary.total == 320:  # the members, then 70 subscriptions in
            raise KeyboardInterrupt

    target = sync.Site(site.url, KEY, Pace(1000))
    with pytest.raises(KeyboardInterrupt):
        sync.sync(engine, target, currency="usd", dry_run=False, progress=interrupted)
    cut = checkpoint.unfinished(engine, "memberpress")
    assert cut.phase == "subscriptions" and cut.after.startswith("1:")
    site.asked.clear()
    resumed = run("sync", "memberpress", site=site)
    assert resumed.exit_code == 0, resumed.output
    assert not any("/members" in asked for asked in site.asked)  # not read again
    rows = rows_of(resumed.output)
    assert rows["member"][:3] == ["250", "0", "0"] and rows["subscription"][:3] == ["250", "0", "0"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Subscription)).scalar_one() == 250


def test_a_wrong_key_or_address_says_what_to_do(settings, engine, site):
    wrong = run("sync", "memberpress", site=site, key="not-the-key")
    assert wrong.exit_code == 1 and "refused the key (HTTP 401)" in wrong.output
    site.url += "/blog"
    missing = run("sync", "memberpress", site=site)
    assert missing.exit_code == 1 and "Developer Tools active" in missing.output


def test_a_transaction_naming_its_membership_by_id_is_read(settings):
    """MemberPress writes a transaction's nested subscription with `"membership": "2420"` and
    `"member": "12"` (ids as strings): the membership's name comes from the transaction's."""
    with FakeMemberPress() as fake:
        fake.add_member(1, NOW, paid=False)
        body = {
            "event": "recurring-transaction-failed",
            "type": "transaction",
            "data": fake.transactions[-1],
        }
    change = memberpress.translate(Received({}, {}, json.dumps(body).encode(), NOW), "usd")
    assert change.subscription.external_id == "501"
    assert change.subscription.product_external_id == "1257"
    assert change.subscription.product_name == "Silver Membership"
    assert change.invoice.status == "open"


@pytest.mark.usefixtures("prefect_harness")
def test_the_flows_read_memberpress_with_the_workers_settings(settings, engine, site, monkeypatch):
    from flows.provider_reconcile import provider_reconcile
    from flows.provider_sync import provider_sync
    from memberflow.core.settings import get_settings
    from tests.support.prefect_api import flow_run_artifacts

    unset = provider_sync(provider="memberpress", return_state=True)
    assert unset.is_failed() and "set MEMBERFLOW_MEMBERPRESS_URL" in str(
        unset.result(raise_on_failure=False)
    )
    monkeypatch.setenv("MEMBERFLOW_MEMBERPRESS_URL", site.url)
    monkeypatch.setenv("MEMBERFLOW_MEMBERPRESS_API_KEY", KEY)
    get_settings.cache_clear()
    synced = provider_sync(provider="memberpress", return_state=True)
    assert synced.is_completed(), synced.message
    site.subscriptions[0]["status"] = "cancelled"
    lost = provider_reconcile(provider="memberpress", return_state=True)
    assert lost.name == "Completed with failures", lost.message
    assert "1 memberpress webhook(s) never arrived" in lost.message
    [table] = [
        a
        for a in flow_run_artifacts(lost.state_details.flow_run_id)
        if a["key"] == "memberpress-reconcile"
    ]
    assert json.loads(table["data"]) == [{"event type": "subscription (differed)", "missing": 1}]
