"""the cancel page's visits and the decisions recorded there

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from memberflow.core.db import UTCDateTime


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cancel_visit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('link_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('opened_at', UTCDateTime(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('offered', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('withheld', sa.Boolean(), nullable=False),
        sa.Column('confirm_shown_at', UTCDateTime(), nullable=True),
        sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.Column('carried_out_at', UTCDateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('provider_note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['member.id']),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('link_key'),
    )
    op.create_index('ix_cancel_visit_member_id', 'cancel_visit', ['member_id'])
    op.create_index('ix_cancel_visit_subscription_id', 'cancel_visit', ['subscription_id'])
    op.create_index('ix_cancel_visit_decided_at', 'cancel_visit', ['decided_at'])


def downgrade() -> None:
    op.drop_table('cancel_visit')
