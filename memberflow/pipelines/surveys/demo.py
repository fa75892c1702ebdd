"""What `memberflow demo` simulates around surveys: some members who got a survey today answer
it through the real page over HTTP (open the link, then submit the form)."""

import random
import re
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Engine, select

from memberflow.core.links import link_secret, member_link
from memberflow.core.models import Member, Product, Subscription, Touchpoint, TouchpointStatus
from memberflow.core.settings import Settings
from memberflow.pipelines.surveys.pipeline import SurveyPipeline, answer_links
from memberflow.pipelines.surveys.steps import PIPELINE
from memberflow.plugin import HTTP_TIMEOUT, http_session

COMMENTS = ["", "", "Great workshops, just no time this year.", "Too dear for me now.", ""]


def members_answer(engine: Engine, settings: Settings, base_url: str, as_of: datetime) -> int:
    """About half of the surveys sent in the last day are answered; returns how many."""
    touchpoint, sub = Touchpoint.__table__, Subscription.__table__
    member, product = Member.__table__, Product.__table__
    with engine.begin() as conn:
        secret = link_secret(conn, settings)
        sent = conn.execute(
            select(
                touchpoint.c.step,
                touchpoint.c.anchor_at,
                sub.c.external_id.label("sub_external_id"),
                member.c.external_id.label("member_external_id"),
                member.c.time_zone,
                product.c.external_id.label("product_external_id"),
            )
            .join(sub, sub.c.id == touchpoint.c.subscription_id)
            .join(member, member.c.id == sub.c.member_id)
            .join(product, product.c.id == sub.c.product_id)
            .where(
                touchpoint.c.pipeline == PIPELINE,
                touchpoint.c.status == TouchpointStatus.sent,
                touchpoint.c.sent_at > as_of - timedelta(days=1),
            )
            .order_by(touchpoint.c.id)
        ).all()
    rng, session, answered = random.Random(as_of.date().toordinal()), http_session(), 0
    steps = {step.name: step for step in SurveyPipeline().steps}
    for row in sent:
        step = steps.get(row.step)
        if step is None or rng.random() < 0.5:
            continue

        def link(member_id: str, purpose: str, data: dict | None = None) -> str:
            return member_link(secret, settings, member_id, purpose, as_of, data)

        urls = answer_links(step, SimpleNamespace(**row._mapping), link, None)
        if step.survey == "exit":
            answer, url = rng.choice(list(urls["reason_urls"].items()))
        else:  # most members like it here
            score = rng.choice([10, 10, 9, 9, 8, 7, 6, 3])
            answer, url = str(score), urls["score_urls"][score]
        path = url.split("/", 3)[3]
        page = session.get(f"{base_url}/{path}", timeout=HTTP_TIMEOUT)
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or token is None:
            continue
        form = {"form_token": token[1], "answer": answer, "comment": rng.choice(COMMENTS)}
        answered += session.post(f"{base_url}/{path}", data=form, timeout=HTTP_TIMEOUT).ok
    return answered
