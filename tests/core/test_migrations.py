"""Alembic's migrations build exactly the schema the models describe, on each database."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from memberflow.core import db as database
from tests.support.databases import POSTGRES_URL


def test_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    database.upgrade(url)
    with database.get_engine(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


@pytest.mark.skipif(not POSTGRES_URL, reason="set MEMBERFLOW_TEST_DATABASE_URL (.ci/run does)")
def test_migrations_match_the_models_on_postgresql_too(request):
    engine = request.getfixturevalue("postgres_engine")  # migrated with Alembic
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
