"""What every command group shares: the engine, failing clearly, printing a table, times."""

from datetime import UTC, datetime

from sqlalchemy import Engine

from memberflow.core import db as database
from memberflow.core.console import fail, print_table  # noqa: F401 (re-exported)
from memberflow.core.settings import get_settings
from memberflow.messaging.registry import load  # noqa: F401 (re-exported)


def engine() -> Engine:
    return database.get_engine(get_settings().database_url)


def parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--as-of {value!r} is not an ISO 8601 time such as 2026-12-01T09:00:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
