"""The survey page, mounted on the ingress app (`registration.routers`).

Mail scanners follow every link in an email, so a GET never records an answer: it counts the
open and shows the page with the clicked answer chosen, a comment box and one button, whose POST
records it. The form carries a token derived from the signed link (no cookie, no session): a
POST without the page's own token is refused. No JavaScript is needed.
"""

import hmac
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from sqlalchemy import Engine, Row
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from memberflow.core.feedback import valid_answer
from memberflow.core.links import BadLink, Link, open_link
from memberflow.core.settings import Settings
from memberflow.core.web import form_token as page_form_token
from memberflow.core.web import page, page_environment, page_language, read_form
from memberflow.pipelines.surveys import records
from memberflow.pipelines.surveys.pipeline import LINK_PURPOSE

logger = logging.getLogger("memberflow.surveys")


def form_token(secret: str, token: str) -> str:
    return page_form_token(secret, "form", token)


def router(settings: Settings, engine: Engine) -> APIRouter:
    pages = page_environment(settings.templates_dir)
    routes = APIRouter(tags=["members"])

    def render(state: str, status: int, lang: str, **values: object) -> HTMLResponse:
        html = pages.get_template("web/survey.html").render(
            state=state,
            lang=lang,
            business_name=settings.business_name,
            support_email=settings.support_email,
            product_name=values.pop("product_name", ""),
            offer_code=values.pop("offer_code", ""),
            offer_description=values.pop("offer_description", ""),
            **values,
        )
        return page(html, status)

    def opened(token: str) -> tuple[Link, object, str] | HTMLResponse:
        try:
            link, member, secret = open_link(engine, settings, token, LINK_PURPOSE)
        except BadLink as bad:
            lang = page_language(None, settings.default_locale)
            return render("expired" if bad.expired else "damaged", 400, lang)
        if member is None or member.erased_at is not None or not _well_formed(link):
            return render("damaged", 400, page_language(None, settings.default_locale))
        return link, member, secret

    def ask(
        token: str,
        link: Link,
        member: Row,
        secret: str,
        *,
        chosen: str | None,
        comment: str | None,
        error: bool = False,
    ) -> HTMLResponse:
        offer = link.data.get("o") or {}
        with engine.connect() as conn:
            previous = records.answer_of(conn, link.data["k"])
            product = records.product_name_of_key(conn, link.data["k"])
        return render(
            "ask",
            422 if error else 200,
            page_language(member.locale, settings.default_locale),
            survey=link.data["s"],
            chosen=chosen,
            comment=comment if comment is not None else (previous.comment if previous else ""),
            answered=previous is not None and previous.answer is not None,
            error=error,
            action=f"/{LINK_PURPOSE}/{token}",
            form_token=form_token(secret, token),
            product_name=product,
            offer_code=offer.get("c", ""),
            offer_description=offer.get("d", ""),
        )

    def show(token: str) -> HTMLResponse:
        found = opened(token)
        if isinstance(found, HTMLResponse):
            return found
        link, member, secret = found
        with engine.begin() as conn:
            records.record_open(
                conn,
                key=link.data["k"],
                survey=link.data["s"],
                member_id=member.id,
                now=datetime.now(UTC),
            )
        return ask(token, link, member, secret, chosen=link.data["a"], comment=None)

    def submit(token: str, form: dict[str, str]) -> HTMLResponse:
        found = opened(token)
        if isinstance(found, HTMLResponse):
            return found
        link, member, secret = found
        lang = page_language(member.locale, settings.default_locale)
        if not hmac.compare_digest(form.get("form_token", ""), form_token(secret, token)):
            return render("stale", 403, lang)
        answer, comment = form.get("answer", ""), (form.get("comment") or "").strip()[:2000]
        if not valid_answer(link.data["s"], answer):
            return ask(token, link, member, secret, chosen=None, comment=comment, error=True)
        with engine.begin() as conn:
            records.record_answer(
                conn,
                key=link.data["k"],
                survey=link.data["s"],
                member_id=member.id,
                answer=answer,
                comment=comment or None,
                source="page",
                now=datetime.now(UTC),
            )
        logger.info("survey %s answered by member %s", link.data["k"], member.external_id)
        return render("done", 200, lang)

    @routes.get(f"/{LINK_PURPOSE}/{{token}}", response_class=HTMLResponse, summary="A survey")
    async def survey_page(token: str) -> HTMLResponse:
        return await run_in_threadpool(show, token)

    @routes.post(
        f"/{LINK_PURPOSE}/{{token}}", response_class=HTMLResponse, summary="Answer a survey"
    )
    async def survey_answer(token: str, request: Request) -> HTMLResponse:
        form = await read_form(request)
        if form is None:
            return page("the form is too large", 413)
        return await run_in_threadpool(submit, token, form)

    return routes


def _well_formed(link: Link) -> bool:
    data = link.data
    return (
        isinstance(data.get("k"), str)
        and data.get("s") in ("exit", "nps")
        and isinstance(data.get("a"), str)
        and valid_answer(data["s"], data["a"])
    )
