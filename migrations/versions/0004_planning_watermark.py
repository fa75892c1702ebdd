"""planning watermark per pipeline

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import memberflow.core.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('planning_watermark',
    sa.Column('pipeline', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('planned_through', memberflow.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', memberflow.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pipeline')
    )


def downgrade() -> None:
    op.drop_table('planning_watermark')
