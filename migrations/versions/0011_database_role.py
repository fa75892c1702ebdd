"""database role: real or a simulation, so time travel never shares a database with real runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import sqlmodel

from memberflow.core.db import UTCDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = op.create_table(
        'database_role',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('since', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # A database upgraded with touchpoints already in it has had runs: take them as real (the
    # safe side: a simulation is then refused there, never a real run).
    conn = op.get_bind()
    first = conn.execute(sa.text("SELECT MIN(created_at) FROM touchpoint")).scalar()
    if first is not None:
        since = datetime.fromisoformat(first) if isinstance(first, str) else first
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        op.bulk_insert(role, [{'id': 1, 'role': 'real', 'since': since}])


def downgrade() -> None:
    op.drop_table('database_role')
