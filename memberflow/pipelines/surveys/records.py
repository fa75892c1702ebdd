"""Feedback surveys, the database part: answers given at the provider, links opened, answers
submitted (the last one counts), and what the results are computed from."""

from collections import Counter
from datetime import datetime

from sqlalchemy import Connection, Engine, case, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from memberflow.core import lifecycle
from memberflow.core.db import days_between, dialect_insert, insert_new
from memberflow.core.feedback import provider_answer
from memberflow.core.models import (
    Member,
    Product,
    Subscription,
    SurveyResponse,
    Touchpoint,
    TouchpointStatus,
)
from memberflow.core.schedule import zone
from memberflow.pipelines.surveys.results import Response
from memberflow.pipelines.surveys.steps import PIPELINE, SurveyStep, survey_key

responses, subscription = SurveyResponse.__table__, Subscription.__table__
member, product, touchpoint = Member.__table__, Product.__table__, Touchpoint.__table__
# an answer this long after the invitation was due still answers it
ANSWERED_WITHIN_DAYS = 30


def goal(dialect: str) -> tuple[str, ColumnElement]:
    """Answered: the member answered on the survey page within a month of the invitation."""
    return "answered", exists().where(
        responses.c.subscription_id == touchpoint.c.subscription_id,
        responses.c.source == "page",
        responses.c.answered_at >= touchpoint.c.due_at,
        days_between(dialect, responses.c.answered_at, touchpoint.c.due_at) < ANSWERED_WITHIN_DAYS,
    )


def record_provider_answers(
    engine: Engine, *, as_of: datetime, since: datetime, step: SurveyStep
) -> int:
    """Cancellations in (since, as_of], or learned of since the last run, whose member told
    the provider why (Stripe's feedback or comment): the answer is recorded once (keyed on
    the cancellation, whose moment never moves), and the exit survey is not sent. Returns how
    many."""
    with engine.begin() as conn:
        learned_after = lifecycle.learned_through(conn, pipeline=PIPELINE)
        learned_now = lifecycle.latest(conn)
        rows = conn.execute(
            select(
                subscription.c.id,
                subscription.c.external_id,
                subscription.c.member_id,
                subscription.c.canceled_at,
                subscription.c.cancel_feedback,
                subscription.c.cancel_comment,
                member.c.time_zone,
            )
            .join(member, member.c.id == subscription.c.member_id)
            .where(
                or_(subscription.c.canceled_at > since, lifecycle.learned_after(learned_after)),
                subscription.c.canceled_at <= as_of,
                or_(
                    subscription.c.cancel_feedback.is_not(None),
                    subscription.c.cancel_comment.is_not(None),
                ),
            )
        ).all()
        answers = [
            {
                "key": survey_key(step, row.external_id, row.canceled_at, zone(row.time_zone)),
                "survey": "exit",
                "member_id": row.member_id,
                "subscription_id": row.id,
                "answer": provider_answer(row.cancel_feedback, row.cancel_comment),
                "comment": row.cancel_comment,
                "source": "provider",
                "opens": 0,
                "answered_at": row.canceled_at,
            }
            for row in rows
        ]
        told = len(insert_new(conn, responses, answers, unique="key"))
        lifecycle.advance_learned(conn, pipeline=PIPELINE, seq=learned_now, since=since)
        return told


def subscription_of_key(conn: Connection, key: str) -> int | None:
    external_id = key.split(":")[1]
    query = select(subscription.c.id).where(subscription.c.external_id == external_id)
    return conn.execute(query).scalar_one_or_none()


def record_open(conn: Connection, *, key: str, survey: str, member_id: int, now: datetime):
    """A link was opened (by the member, or a mail scanner): counted, nothing answered."""
    values = {
        "key": key,
        "survey": survey,
        "member_id": member_id,
        "subscription_id": subscription_of_key(conn, key),
        "opens": 1,
        "opened_at": now,
        "source": "page",
    }
    statement = dialect_insert(conn, responses).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "opens": responses.c.opens + 1,
                "opened_at": func.coalesce(responses.c.opened_at, now),
            },
        )
    )


def record_answer(
    conn: Connection,
    *,
    key: str,
    survey: str,
    member_id: int,
    answer: str,
    comment: str | None,
    source: str,
    now: datetime,
) -> None:
    """The member's answer; a later one replaces it (the last counts, one per survey)."""
    values = {
        "key": key,
        "survey": survey,
        "member_id": member_id,
        "subscription_id": subscription_of_key(conn, key),
        "answer": answer,
        "comment": comment,
        "source": source,
        "opens": 0,
        "answered_at": now,
    }
    statement = dialect_insert(conn, responses).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"answer": answer, "comment": comment, "answered_at": now, "source": source},
        )
    )


def answer_of(conn: Connection, key: str):
    query = select(responses.c.answer, responses.c.comment).where(responses.c.key == key)
    return conn.execute(query).one_or_none()


def load(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    product_external_id: str | None = None,
) -> tuple[Counter, list[Response]]:
    """(invitations sent by survey, every response) in the period, for one product or all."""
    moment = func.coalesce(responses.c.answered_at, responses.c.opened_at)
    query = (
        select(
            responses.c.survey,
            product.c.external_id.label("product"),
            responses.c.answer,
            responses.c.comment,
            responses.c.source,
            responses.c.answered_at,
            subscription.c.started_at,
            subscription.c.canceled_at,
        )
        .join(subscription, subscription.c.id == responses.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
    )
    sent = (
        select(
            case((touchpoint.c.step == "exit_survey", "exit"), else_="nps").label("survey"),
            func.count(),
        )
        .join(subscription, subscription.c.id == touchpoint.c.subscription_id)
        .join(product, product.c.id == subscription.c.product_id)
        .where(touchpoint.c.pipeline == PIPELINE, touchpoint.c.status == TouchpointStatus.sent)
        .group_by("survey")
    )
    if since is not None:
        query, sent = query.where(moment >= since), sent.where(touchpoint.c.sent_at >= since)
    if until is not None:
        query, sent = query.where(moment < until), sent.where(touchpoint.c.sent_at < until)
    if product_external_id:
        query = query.where(product.c.external_id == product_external_id)
        sent = sent.where(product.c.external_id == product_external_id)
    found = []
    for row in conn.execute(query):
        until_moment = row.canceled_at if row.survey == "exit" else row.answered_at
        tenure = (until_moment - row.started_at).days if row.started_at and until_moment else None
        found.append(
            Response(
                row.survey,
                row.product,
                row.answer,
                row.comment,
                row.source,
                row.answered_at,
                tenure,
            )
        )
    return Counter(dict(conn.execute(sent).all())), found


def product_name_of_key(conn: Connection, key: str) -> str:
    external_id = key.split(":")[1]
    query = (
        select(product.c.name)
        .join(subscription, subscription.c.product_id == product.c.id)
        .where(subscription.c.external_id == external_id)
    )
    return conn.execute(query).scalar_one_or_none() or ""
