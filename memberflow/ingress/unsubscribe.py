"""One-click unsubscribe, on the same app as the webhooks.

RFC 8058: a mail client's "Unsubscribe" button POSTs `List-Unsubscribe=One-Click` to the link,
with no page and no login; the member's click on the link in the email is a GET, which only
shows a page whose button POSTs. Mail scanners follow every link with a GET, so a GET never
unsubscribes anyone. A damaged, foreign or expired link changes nothing and says what to do.
"""

import logging
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from memberflow.core.links import BadLink, open_link
from memberflow.core.members import unsubscribe
from memberflow.core.settings import Settings
from memberflow.core.web import page as secure_page
from memberflow.core.web import page_environment, page_language

PURPOSE = "unsubscribe"
logger = logging.getLogger("memberflow.unsubscribe")


def router(settings: Settings, engine: Engine) -> APIRouter:
    pages = page_environment(settings.templates_dir)
    routes = APIRouter(tags=["members"])

    def page(state: str, status: int, locale: str | None, email: str = "", action: str = ""):
        html = pages.get_template("web/unsubscribe.html").render(
            state=state,
            lang=page_language(locale, settings.default_locale),
            email=email,
            action=action,
            business_name=settings.business_name,
            support_email=settings.support_email,
        )
        return secure_page(html, status)

    def member_of(token: str):
        _, member, _ = open_link(engine, settings, token, PURPOSE)
        return member

    def show(token: str) -> HTMLResponse:
        try:
            found = member_of(token)
        except BadLink as bad:
            return page("expired" if bad.expired else "damaged", 400, None)
        if found is None or found.erased_at is not None or found.unsubscribed_at is not None:
            return page("done", 200, found.locale if found else None, found.email if found else "")
        return page("ask", 200, found.locale, found.email, f"/{PURPOSE}/{token}")

    def confirm(token: str) -> HTMLResponse:
        try:
            found = member_of(token)
        except BadLink as bad:
            logger.info("unsubscribe refused: %s", bad)
            return page("expired" if bad.expired else "damaged", 400, None)
        if found is None:
            return page("done", 200, None)
        with engine.begin() as conn:
            changed = unsubscribe(conn, found.external_id, datetime.now(UTC))
        if changed:
            logger.info("member %s unsubscribed from marketing", found.external_id)
        return page("done", 200, found.locale, found.email)

    @routes.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="The unsubscribe page")
    async def unsubscribe_page(token: str) -> HTMLResponse:
        return await run_in_threadpool(show, token)

    @routes.post(
        "/unsubscribe/{token}",
        response_class=HTMLResponse,
        summary="Unsubscribe (RFC 8058 one-click, or the page's button)",
    )
    async def unsubscribe_now(token: str) -> HTMLResponse:
        return await run_in_threadpool(confirm, token)

    return routes
