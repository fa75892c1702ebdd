"""Dunning's results: what its emails are for (the bill paid), to judge an experiment on one
of them; the emails open cases will get, for the forecast; and, for other pipelines, whether a
subscription's payment failed and stayed unpaid (`failed_payment_after`, its `provides`)."""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection, exists, or_, select
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core.db import days_between
from memberflow.core.dunning_models import PAID_OUTCOMES, CaseStatus, DunningCase
from memberflow.core.models import Member, Subscription, Touchpoint
from memberflow.core.schedule import zone
from memberflow.pipelines.dunning.policy import (
    DunningPolicy,
    Notice,
    final_action_time,
    notice_schedule,
)
from memberflow.pipelines.dunning.steps import MEMBER_PIPELINE

touchpoint, dunning_case = Touchpoint.__table__, DunningCase.__table__
subscription, member = Subscription.__table__, Member.__table__


def goal(dialect: str) -> tuple[str, ColumnElement]:
    """Recovered: the case of the bill the email was about ended paid."""
    return "recovered", exists().where(
        dunning_case.c.invoice_id == touchpoint.c.invoice_id,
        dunning_case.c.outcome.in_(PAID_OUTCOMES),
    )


def failed_payment_after(
    dialect: str,
    subscription_id: ColumnElement,
    after: ColumnElement,
    around: ColumnElement,
    within_days: int,
) -> ColumnElement:
    """A payment of the subscription failed at or after `after`, less than `within_days` after
    `around`, and was not recovered: a SQL condition over the asker's columns."""
    return exists().where(
        dunning_case.c.subscription_id == subscription_id,
        dunning_case.c.opened_at >= after,
        days_between(dialect, dunning_case.c.opened_at, around) < within_days,
        or_(dunning_case.c.outcome.is_(None), dunning_case.c.outcome.not_in(PAID_OUTCOMES)),
    )


def forecast(conn: Connection, start: datetime, end: datetime) -> Iterator[tuple]:
    """The member emails open cases get in [start, end) if they stay unpaid, under the default
    policy (a deployment's own policy may move them), less those planned already: the notices,
    and the final notice when retries run out."""
    policy = DunningPolicy()
    query = (
        select(dunning_case.c.opened_at, dunning_case.c.notices, member.c.time_zone)
        .join(subscription, subscription.c.id == dunning_case.c.subscription_id)
        .join(member, member.c.id == subscription.c.member_id)
        .where(dunning_case.c.status == CaseStatus.open)
    )
    for row in conn.execute(query):
        planned = set(filter(None, row.notices.split(",")))
        tz = zone(row.time_zone)
        final = final_action_time(row.opened_at, tz, policy)
        schedule = [*notice_schedule(row.opened_at, tz, policy), Notice("final_notice", final)]
        for notice in schedule:
            if notice.step not in planned and start <= notice.due_at < end:
                yield notice.due_at, MEMBER_PIPELINE, notice.step
