"""a sync cut short resumes from its checkpoint

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from memberflow.core.db import UTCDateTime


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sync_checkpoint',
        sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('after', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('provider'),
    )


def downgrade() -> None:
    op.drop_table('sync_checkpoint')
