"""products say what language they are written in, and carry their words in others;
members whose address a provider sent malformed are flagged

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('product') as batch:
        batch.add_column(sa.Column('default_locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch.add_column(sa.Column('translations', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table('member') as batch:
        batch.add_column(sa.Column('email_problem', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('member') as batch:
        batch.drop_column('email_problem')
    with op.batch_alter_table('product') as batch:
        batch.drop_column('translations')
        batch.drop_column('default_locale')
