"""Alembic's migrations build exactly the schema the models describe, on each database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from memberflow import db as database


def test_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    database.upgrade(url)
    with database.get_engine(url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_migrations_match_the_models_on_postgresql_too(request):
    from tests.conftest import POSTGRES_URL

    if not POSTGRES_URL:
        return  # covered by the SQLite test; .ci/run sets MEMBERFLOW_TEST_DATABASE_URL
    engine = request.getfixturevalue("postgres_engine")  # migrated with Alembic
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
