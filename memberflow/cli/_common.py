"""What every command group shares: the engine, failing clearly, printing a table, times."""

from sqlalchemy import Engine

from memberflow.core import db as database
from memberflow.core.console import fail, parse_moment, print_table  # noqa: F401 (re-exported)
from memberflow.core.settings import get_settings
from memberflow.messaging.registry import load  # noqa: F401 (re-exported)


def engine() -> Engine:
    """The configured database, which must exist (only `memberflow db upgrade` makes one)."""
    url = get_settings().database_url
    database.require_existing(url)
    return database.get_engine(url)
