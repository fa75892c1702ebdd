"""cancellations, marketing consent, signing keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import memberflow.core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UTC = memberflow.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('member') as batch:
        batch.add_column(sa.Column('marketing_consent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('unsubscribed_at', UTC, nullable=True))
        batch.add_column(sa.Column('erased_at', UTC, nullable=True))
    with op.batch_alter_table('subscription') as batch:
        batch.add_column(sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('created_at', UTC, nullable=True))
        batch.create_index('ix_subscription_canceled_at', ['canceled_at', 'id'])
    op.create_table('cancellation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('canceled_at', UTC, nullable=False),
    sa.Column('access_end', UTC, nullable=False),
    sa.Column('involuntary', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('feedback', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('recorded_at', UTC, nullable=False),
    sa.Column('returned_at', UTC, nullable=True),
    sa.Column('returned_how', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('won_back_by', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
    sa.Column('won_back_offer', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_cancellation_member_id', 'cancellation', ['member_id'])
    op.create_index('ix_cancellation_open', 'cancellation', ['subscription_id', 'returned_at'])
    op.create_table('signing_key',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('signing_key')
    op.drop_index('ix_cancellation_open', table_name='cancellation')
    op.drop_index('ix_cancellation_member_id', table_name='cancellation')
    op.drop_table('cancellation')
    with op.batch_alter_table('subscription') as batch:
        batch.drop_index('ix_subscription_canceled_at')
        batch.drop_column('created_at')
        batch.drop_column('cancel_at_period_end')
    with op.batch_alter_table('member') as batch:
        batch.drop_column('erased_at')
        batch.drop_column('unsubscribed_at')
        batch.drop_column('marketing_consent')
