"""experiments: variants and a holdout per step, the assignment kept on each touchpoint

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 20:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from memberflow.core.db import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'experiment',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('pipeline', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('definition', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('stopped_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('touchpoint') as batch:
        batch.add_column(sa.Column('experiment', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.create_index('ix_touchpoint_experiment', ['experiment', 'variant'])


def downgrade() -> None:
    with op.batch_alter_table('touchpoint') as batch:
        batch.drop_index('ix_touchpoint_experiment')
        batch.drop_column('variant')
        batch.drop_column('experiment')
    op.drop_table('experiment')
