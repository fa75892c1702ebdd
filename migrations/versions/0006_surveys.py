"""survey responses, subscription start

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import memberflow.core.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UTC = memberflow.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('subscription') as batch:
        batch.add_column(sa.Column('started_at', UTC, nullable=True))
        batch.create_index('ix_subscription_started_at', ['started_at', 'id'])
    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('survey', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('opened_at', UTC, nullable=True),
    sa.Column('opens', sa.Integer(), nullable=False),
    sa.Column('answered_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_survey_response_member_id', 'survey_response', ['member_id'])
    op.create_index('ix_survey_response_answered_at', 'survey_response', ['answered_at'])


def downgrade() -> None:
    op.drop_index('ix_survey_response_answered_at', table_name='survey_response')
    op.drop_index('ix_survey_response_member_id', table_name='survey_response')
    op.drop_table('survey_response')
    with op.batch_alter_table('subscription') as batch:
        batch.drop_index('ix_subscription_started_at')
        batch.drop_column('started_at')
