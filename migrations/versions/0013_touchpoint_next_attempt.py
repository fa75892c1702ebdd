"""a failed message's next try is scheduled, so it never stands in front of the rest

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 16:40:00
"""
from alembic import op
import sqlalchemy as sa

from memberflow.core.db import UTCDateTime


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('touchpoint') as batch:
        batch.add_column(sa.Column('next_attempt_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('touchpoint') as batch:
        batch.drop_column('next_attempt_at')
