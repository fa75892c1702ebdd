"""an event the reconcile fetched because its webhook was lost is marked so

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 17:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(
            sa.Column(
                'source',
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default='webhook',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.drop_column('source')
