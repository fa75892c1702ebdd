"""lifecycle facts: a subscription's cancellations and reactivations as a history, never
overwritten; its id is the order memberflow learned them in

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from memberflow.core.db import UTCDateTime


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lifecycle_fact',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('occurred_at', UTCDateTime(), nullable=False),
        sa.Column('learned_at', UTCDateTime(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('feedback', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_lifecycle_fact_subscription_id', 'lifecycle_fact', ['subscription_id'])
    op.create_index(
        'ux_lifecycle_fact', 'lifecycle_fact', ['subscription_id', 'kind', 'source'], unique=True
    )
    with op.batch_alter_table('planning_watermark') as batch:
        batch.add_column(sa.Column('learned_through', sa.Integer(), nullable=True))
    with op.batch_alter_table('subscription') as batch:
        batch.add_column(sa.Column('ended_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('subscription') as batch:
        batch.drop_column('ended_at')
    with op.batch_alter_table('planning_watermark') as batch:
        batch.drop_column('learned_through')
    op.drop_index('ux_lifecycle_fact', table_name='lifecycle_fact')
    op.drop_index('ix_lifecycle_fact_subscription_id', table_name='lifecycle_fact')
    op.drop_table('lifecycle_fact')
