"""visits: the visit table, each subscription's latest visit

Revision ID: visits_0001
Revises:
Create Date: 2026-12-04 16:30:00
"""

import sqlalchemy as sa
from alembic import op

from memberflow.core.db import UTCDateTime

revision = "visits_0001"
down_revision = None
branch_labels = ("visits",)  # the pipeline's own branch beside memberflow's history
depends_on = "0012"  # written against memberflow's schema at 0012 (it references subscription)


def upgrade() -> None:
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("visited_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id"),
    )
    op.create_index("ix_visit_visited_at", "visit", ["visited_at"])


def downgrade() -> None:
    op.drop_index("ix_visit_visited_at", table_name="visit")
    op.drop_table("visit")
