"""The test databases: SQLite always, PostgreSQL too when MEMBERFLOW_TEST_DATABASE_URL is set.
Under pytest-xdist (`make test` runs two workers) each worker has a PostgreSQL database of its
own, named after the configured one (`test_gw0`, `test_gw1`), made on first use."""

import os
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import memberflow.core.models  # noqa: F401 (registers every table on SQLModel.metadata)


def _workers_own(url: str | None) -> str | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    configured = make_url(url)
    name = f"{configured.database}_{worker}"
    admin = create_engine(configured, isolation_level="AUTOCOMMIT")
    for attempt in range(5):  # two workers copying template1 at once: one may have to wait
        try:
            with admin.connect() as conn:
                query = text("SELECT 1 FROM pg_database WHERE datname = :name")
                if conn.execute(query, {"name": name}).scalar() is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            break
        except Exception:
            if attempt == 4:
                raise
            time.sleep(1)
    admin.dispose()
    return configured.set(database=name).render_as_string(hide_password=False)


POSTGRES_URL = _workers_own(os.environ.get("MEMBERFLOW_TEST_DATABASE_URL"))
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
TABLES = ", ".join(table.name for table in reversed(SQLModel.metadata.sorted_tables))
