"""The pipeline's own table: each subscription's latest visit, kept by the pipeline alone."""

from datetime import datetime

from sqlalchemy import Column, Connection, ForeignKey, Integer, MetaData, Table, select

from memberflow.core.db import UTCDateTime, dialect_insert
from memberflow.core.models import Subscription

metadata = MetaData()  # its own: memberflow's schema does not know this table

visit = Table(
    "visit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscription_id", ForeignKey("subscription.id"), nullable=False, unique=True),
    # planning walks it in (visited_at, subscription id) order: indexed
    Column("visited_at", UTCDateTime(), nullable=False, index=True),
)

subscription = Subscription.__table__


class UnknownSubscription(LookupError):
    pass


def record_visit(conn: Connection, subscription_external_id: str, at: datetime) -> None:
    """The member of this subscription came in at `at`; a later visit replaces an earlier one
    (the thank-you is for the latest), an older one arriving late changes nothing."""
    found = conn.execute(
        select(subscription.c.id).where(subscription.c.external_id == subscription_external_id)
    ).first()
    if found is None:
        raise UnknownSubscription(
            f"no subscription {subscription_external_id!r}: record visits by the provider's "
            "subscription id, as `memberflow member show` lists them"
        )
    insert = dialect_insert(conn, visit).values(subscription_id=found.id, visited_at=at)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["subscription_id"],
            set_={"visited_at": at},
            where=visit.c.visited_at < at,
        )
    )
