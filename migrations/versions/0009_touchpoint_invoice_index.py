"""a bill's touchpoints are found by index (a case closing skips its unsent notices)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:00:00
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_touchpoint_invoice_id', 'touchpoint', ['invoice_id'])


def downgrade() -> None:
    op.drop_index('ix_touchpoint_invoice_id', table_name='touchpoint')
