"""Fixtures: every database test runs on SQLite, and on PostgreSQL too when
MEMBERFLOW_TEST_DATABASE_URL is set (.ci/run sets it). One Prefect harness per session."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from memberflow.core import clock
from memberflow.core import db as database
from memberflow.core.settings import Settings, get_settings
from tests.support.databases import BACKENDS, POSTGRES_URL, TABLES

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """The test PostgreSQL database, migrated once per session with Alembic."""
    engine = database.get_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLES}, alembic_version CASCADE"))
    database.upgrade(POSTGRES_URL)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A fresh database, kept for simulations: tests act for any day they like (a test of
    real runs' limits makes its own role: tests/core/test_clock.py)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'memberflow.db'}"
        SQLModel.metadata.create_all(database.get_engine(url))
    else:
        url = POSTGRES_URL
        with request.getfixturevalue("postgres_engine").begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    with database.get_engine(url).begin() as conn:
        clock.mark(conn, clock.Role.simulation, datetime.now(UTC))
    return url


@pytest.fixture
def engine(database_url) -> Engine:
    return database.get_engine(database_url)


@pytest.fixture
def settings(database_url, tmp_path, monkeypatch) -> Iterator[Settings]:
    """Settings for this test, also seen by flows (they read the environment)."""
    monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("MEMBERFLOW_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server and database for the whole session."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        # a sync flow otherwise waits about 1 s at exit for its heartbeat thread
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (skipped where none is installed)."""
    from tests.support.browser import start_browser

    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """The session's Chromium at a phone's 320 px, whatever size the last test left it at
    (which test ran last on a worker depends on how the suite was split)."""
    chromium.set_window_size(320, 800)
    return chromium
