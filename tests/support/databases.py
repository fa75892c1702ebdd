"""The test databases: SQLite always, PostgreSQL too when MEMBERFLOW_TEST_DATABASE_URL is set."""

import os

from sqlmodel import SQLModel

import memberflow.core.models  # noqa: F401 (registers every table on SQLModel.metadata)

POSTGRES_URL = os.environ.get("MEMBERFLOW_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
TABLES = ", ".join(table.name for table in reversed(SQLModel.metadata.sorted_tables))
