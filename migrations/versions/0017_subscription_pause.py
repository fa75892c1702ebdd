"""a paused subscription's resume date, for the reminder before it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 20:15:00
"""
from alembic import op
import sqlalchemy as sa

from memberflow.core.db import UTCDateTime


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscription') as batch:
        batch.add_column(sa.Column('pause_resumes_at', UTCDateTime(), nullable=True))
        batch.create_index('ix_subscription_pause_resumes_at', ['pause_resumes_at'])


def downgrade() -> None:
    with op.batch_alter_table('subscription') as batch:
        batch.drop_index('ix_subscription_pause_resumes_at')
        batch.drop_column('pause_resumes_at')
