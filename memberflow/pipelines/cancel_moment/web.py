"""The cancel page: a member's "manage or cancel" link, mounted on the ingress app.

Three screens, no script: what they have and a "Cancel my membership" button (with one optional
question, why); a confirmation (the law's "cancel now" button), beside which at most one
alternative is shown when the owner configured one for the reason given; and what happens now.
A GET never changes anything but the count of opens (mail scanners follow links); every change
is a POST carrying the page's form token, derived from the signed link (no cookie, no session).
The decision is recorded here and carried out at the provider by the cancel-moment flow, so a
provider outage never loses it.
"""

import hmac
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from memberflow.core.feedback import REASONS
from memberflow.core.links import BadLink, open_link
from memberflow.core.money import format_date, format_money
from memberflow.core.settings import Settings
from memberflow.core.web import form_token as page_form_token
from memberflow.core.web import page, page_environment, page_language, read_form
from memberflow.pipelines.cancel_moment import records
from memberflow.pipelines.cancel_moment.alternatives import alternative_for, load_alternatives
from memberflow.pipelines.cancel_moment.tickets import ALTERNATIVE_STEP, PIPELINE
from memberflow.plugin import MANAGE_LINK, held_out

LINK_PURPOSE = MANAGE_LINK  # one purpose for the emails and the page
logger = logging.getLogger("memberflow.cancel_moment")


def form_token(secret: str, token: str) -> str:
    return page_form_token(secret, "manage-form", token)


def router(settings: Settings, engine: Engine) -> APIRouter:
    pages = page_environment(settings.templates_dir)
    alternatives = load_alternatives(settings.cancel_alternatives)  # a typo stops the app here
    routes = APIRouter(tags=["members"])

    def render(state: str, status: int, lang: str, **values: object) -> HTMLResponse:
        html = pages.get_template("web/cancel.html").render(
            state=state,
            lang=lang,
            business_name=settings.business_name,
            support_email=settings.support_email,
            portal_url=settings.portal_url,
            reasons=REASONS,
            **values,
        )
        return page(html, status)

    def opened(token: str):
        """(link, membership, secret, language), or the page that says why not."""
        try:
            link, member, secret = open_link(engine, settings, token, LINK_PURPOSE)
        except BadLink as bad:
            lang = page_language(None, settings.default_locale)
            return render("expired" if bad.expired else "damaged", 400, lang)
        subscription_id = link.data.get("s") if isinstance(link.data, dict) else None
        if member is None or member.erased_at is not None or not isinstance(subscription_id, str):
            return render("damaged", 400, page_language(None, settings.default_locale))
        with engine.connect() as conn:
            found = records.membership(conn, member.id, subscription_id)
        lang = page_language(member.locale, settings.default_locale)
        if found is None:
            return render("damaged", 400, lang)
        return link, found, secret, lang

    def withheld_from(product: str, member: str) -> bool:
        """Whether the running experiment on the alternative holds this member out of it."""
        with engine.connect() as conn:
            return held_out(conn, PIPELINE, ALTERNATIVE_STEP, product, member)

    def facts(found: records.Membership, lang: str) -> dict:
        """The membership in the member's language, currency and time zone."""
        local = found.current_period_end.astimezone(ZoneInfo(found.time_zone or "UTC"))
        return {
            "product_name": found.product_name,
            "amount": format_money(found.amount_minor, found.currency, lang),
            "interval": found.interval,
            "until": format_date(local.date(), lang),
            "action": f"/{LINK_PURPOSE}/",
        }

    def settled(found: records.Membership, lang: str) -> HTMLResponse | None:
        """The page when there is nothing left to decide: already canceled, or decided."""
        if found.ended or found.cancel_at_period_end:
            return render("already", 200, lang, **facts(found, lang))
        with engine.connect() as conn:
            decided = records.decision_of(conn, found.subscription_id)
        if decided is None:
            return None
        if decided.carried_out_at is None:  # recorded; the provider has not done it yet
            return render(
                "done",
                200,
                lang,
                decision=decided.decision,
                offered=decided.offered,
                pending=True,
                **facts(found, lang),
            )
        if decided.decision == "cancel":  # done at the provider, its webhook still on the way
            return render("already", 200, lang, **facts(found, lang))
        return None  # a pause or a switch carried out: they may still decide to leave later

    def show(token: str) -> HTMLResponse:
        found = opened(token)
        if isinstance(found, HTMLResponse):
            return found
        link, membership, secret, lang = found
        with engine.begin() as conn:
            records.record_open(conn, records.link_key(token), membership, datetime.now(UTC))
        return settled(membership, lang) or render(
            "start",
            200,
            lang,
            token=token,
            form_token=form_token(secret, token),
            **facts(membership, lang),
        )

    def posted(token: str, form: dict[str, str]):
        """(link, membership, secret, language) of a POST that may change something, or the
        page that says why not: a bad link, a form not this page's, nothing left to decide (a
        double submit, a second tab: what was decided, shown again)."""
        found = opened(token)
        if isinstance(found, HTMLResponse):
            return found
        link, membership, secret, lang = found
        if not hmac.compare_digest(form.get("form_token", ""), form_token(secret, token)):
            return render("stale", 403, lang)
        return settled(membership, lang) or found

    def confirm(token: str, form: dict[str, str]) -> HTMLResponse:
        found = posted(token, form)
        if isinstance(found, HTMLResponse):
            return found
        link, membership, secret, lang = found
        reason = form.get("reason") or None
        reason = reason if reason in REASONS else None
        comment = (form.get("comment") or "").strip()[:2000] or None
        product = membership.product_external_id
        alternative = alternative_for(alternatives, product, reason, None)
        withheld = alternative is not None and withheld_from(product, link.member_external_id)
        offered = (
            alternative.model_dump(exclude={"descriptions", "description"}) if alternative else None
        )
        if offered is not None:
            offered["words"] = alternative.described(lang)
        with engine.begin() as conn:
            records.record_reason(
                conn,
                records.link_key(token),
                membership,
                reason=reason,
                comment=comment,
                offered=offered,
                withheld=withheld,
                now=datetime.now(UTC),
            )
        return render(
            "confirm",
            200,
            lang,
            token=token,
            form_token=form_token(secret, token),
            offered=None if withheld else offered,
            **facts(membership, lang),
        )

    def decide(token: str, form: dict[str, str]) -> HTMLResponse:
        found = posted(token, form)
        if isinstance(found, HTMLResponse):
            return found
        link, membership, secret, lang = found
        key = records.link_key(token)
        with engine.connect() as conn:
            offered = records.shown_on(conn, key)
        choice = form.get("choice")
        if choice == "accept" and offered:
            decision = offered["kind"]
        elif choice == "cancel":
            decision = "cancel"
        else:
            return render("stale", 403, lang)
        with engine.begin() as conn:
            recorded = records.record_decision(conn, key, membership, decision, datetime.now(UTC))
        if recorded:
            logger.info("member %s decided %s on the cancel page", membership.member_id, decision)
        return settled(membership, lang) or render("stale", 403, lang)

    @routes.get(
        f"/{LINK_PURPOSE}/{{token}}", response_class=HTMLResponse, summary="Manage or cancel"
    )
    async def manage_page(token: str) -> HTMLResponse:
        return await run_in_threadpool(show, token)

    @routes.post(
        f"/{LINK_PURPOSE}/{{token}}", response_class=HTMLResponse, summary="Cancel: confirm"
    )
    async def manage_confirm(token: str, request: Request) -> HTMLResponse:
        return await run_in_threadpool(confirm, token, await read_form(request) or {})

    @routes.post(
        f"/{LINK_PURPOSE}/{{token}}/decide", response_class=HTMLResponse, summary="Cancel: decide"
    )
    async def manage_decide(token: str, request: Request) -> HTMLResponse:
        return await run_in_threadpool(decide, token, await read_form(request) or {})

    return routes
