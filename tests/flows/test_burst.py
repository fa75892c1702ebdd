"""Event storms (issue 28): 500 signed `invoice.payment_failed` and 500
`customer.subscription.deleted` webhooks through the real ingress, to the session's real Prefect
server, with the deployments of prefect.yaml and a process worker: every member gets exactly one
first dunning notice or cancellation confirmation, from a handful of flow runs, not 1,000.
bench/burst.py runs the same on a Prefect server of its own and prints the figures
(docs/scaling.md). On PostgreSQL when it is configured (a business of that size runs on it),
else SQLite."""

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from bench.burst import Burst
from memberflow.core import db as database
from tests.support.databases import POSTGRES_URL, TABLES

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def burst_database(request, tmp_path) -> str:
    """An empty memberflow database, never marked for simulations: the runs act for now."""
    if POSTGRES_URL:
        with request.getfixturevalue("postgres_engine").begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        return POSTGRES_URL
    url = f"sqlite:///{tmp_path / 'burst.db'}"
    SQLModel.metadata.create_all(database.get_engine(url))
    return url


def test_a_burst_of_webhooks_is_a_handful_of_runs_and_one_first_message_each(
    burst_database, tmp_path
):
    from prefect.settings import PREFECT_API_URL

    burst = Burst(PREFECT_API_URL.value(), burst_database, tmp_path / "outbox")
    burst.deploy()
    figures = burst.run(failed=500, deleted=500, timeout=600)
    said = str(figures)  # bench/burst.py tabulates them

    assert figures.messages == {"failed": 500, "deleted": 500} and figures.repeats == 0, said
    # a run or two per deployment (a burst that outlasts the one-minute window starts one
    # more, and it finds the rest), never one per webhook
    assert 1 <= figures.flow_runs["failed"] <= 3, said
    assert 1 <= figures.flow_runs["deleted"] <= 3, said
    emails = list((tmp_path / "outbox").glob("*.eml"))
    first = [e for e in emails if "first_notice" in e.name or "confirmation" in e.name]
    assert len(first) == 1000  # one file per key: each member's message written once
