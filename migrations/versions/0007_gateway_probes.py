"""paused dunning cases probe the gateway again

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 14:00:00
"""
from alembic import op
import sqlalchemy as sa
import memberflow.core.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dunning_case') as batch:
        batch.add_column(sa.Column('next_probe_at', memberflow.core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('probes', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('dunning_case') as batch:
        batch.drop_column('probes')
        batch.drop_column('next_probe_at')
