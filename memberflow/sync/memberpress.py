"""A MemberPress site's members and subscriptions, read from its Developer Tools REST API
(`/wp-json/mp/v1/members`, `/subscriptions`, `/transactions`; the `MEMBERPRESS-API-KEY`
header; `page` and `per_page`), as the webhooks that would have told memberflow of them:
`providers/memberpress.translate` reads them, as it reads a webhook.

MemberPress keeps a subscription's paid-through date on its transactions, not on the
subscription: each subscription still running is written with its latest transaction (a
completed one sets the period end; a failed one opens the dunning case). MemberPress has no
event list to catch up from, so its reconcile is this same comparison: what a sync finds new or
changed is what its webhooks missed.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import requests
from sqlalchemy import Engine

from memberflow.core.settings import Settings
from memberflow.ingress.providers import memberpress as provider
from memberflow.sync.apply import resumable_sync
from memberflow.sync.checkpoint import Resume
from memberflow.sync.listed import Listed, Summary
from memberflow.sync.pacing import Pace, of_response, paced

PER_PAGE = 100
PHASES = ("members", "subscriptions")
# WordPress sites are rarely sized for API traffic: a polite default
REQUESTS_PER_SECOND = 5.0
RUNNING = {"active", "pending"}  # MemberPress's statuses of a subscription still billed
_EVENTS = {  # a subscription's status -> the webhook that would have said it
    "active": "subscription-created",
    "pending": "subscription-created",
    "cancelled": "subscription-stopped",
    "expired": "subscription-expired",
    "suspended": "subscription-paused",
}


class SyncStopped(RuntimeError):
    """The sync could not go on; what was written before is whole, and the next resumes."""


@dataclass
class Site:
    """A MemberPress site's REST API, read a page at a time under a pace."""

    url: str  # the WordPress site's address: https://example.com
    api_key: str
    pace: Pace
    timeout: float = 30.0

    def __post_init__(self):
        self.http = requests.Session()
        self.http.headers["MEMBERPRESS-API-KEY"] = self.api_key

    def pages(self, resource: str, first: int = 1) -> Iterator[tuple[int, list[dict]]]:
        """(page number, its objects) from page `first` until a page comes short."""
        page = first
        while True:
            found = self._get(resource, page)
            yield page, found
            if len(found) < PER_PAGE:
                return
            page += 1

    def _get(self, resource: str, page: int) -> list[dict]:
        address = f"{self.url.rstrip('/')}/wp-json/mp/v1/{resource}"
        params = {"page": page, "per_page": PER_PAGE}
        try:
            answer, gave_up = paced(
                self.pace,
                lambda: self.http.get(address, params=params, timeout=self.timeout),
                of_response,
            )
        except requests.RequestException as error:
            raise SyncStopped(f"cannot reach {address} ({error}); {AGAIN}") from None
        if gave_up:
            raise SyncStopped(f"{address} kept answering 429 (too many requests); {AGAIN}")
        return _objects(address, answer)


AGAIN = "each object written is whole: run it again, it resumes where it stopped"


def site_from(settings: Settings) -> Site:
    """The site the settings name (the flows'), or what to set."""
    key = settings.secret("memberpress_api_key")
    if not settings.memberpress_url or not key:
        raise ValueError(
            "set MEMBERFLOW_MEMBERPRESS_URL and MEMBERFLOW_MEMBERPRESS_API_KEY where the flow "
            "runs (the worker's environment) to read MemberPress"
        )
    return Site(settings.memberpress_url, key, Pace(REQUESTS_PER_SECOND))


def _objects(address: str, answer: requests.Response) -> list[dict]:
    if answer.status_code in (401, 403):
        raise SyncStopped(
            f"{address} refused the key (HTTP {answer.status_code}): copy it again from "
            "MemberPress > Developer > REST API; it must belong to an administrator"
        )
    if answer.status_code == 404:
        raise SyncStopped(
            f"{address} is not there (HTTP 404): is MemberPress Developer Tools active on this "
            "site, and the address the site's own (https://example.com)?"
        )
    if answer.status_code >= 400:
        raise SyncStopped(f"{address} answered HTTP {answer.status_code}; {AGAIN}")
    try:
        found = answer.json()
    except ValueError:
        raise SyncStopped(f"{address} did not answer JSON: is it a WordPress site?") from None
    if not isinstance(found, list):
        raise SyncStopped(f"{address} answered {type(found).__name__}, not a list of objects")
    return [item for item in found if isinstance(item, dict)]


def sync(
    engine: Engine,
    site: Site,
    *,
    currency: str,
    dry_run: bool,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Lists the site and writes it (`memberflow sync memberpress`), resuming a cut sync."""
    return resumable_sync(
        engine,
        provider.NAME,
        partial(provider.translate, currency=currency),
        lambda summary, resume, _: listed(site, summary=summary, resume=resume),
        dry_run=dry_run,
        progress=progress,
    )


def listed(site: Site, *, summary: Summary, resume: Resume | None = None) -> Iterator[Listed]:
    """Every member, then every subscription with its latest transaction when it still runs.
    A checkpoint names the page and the last object written on it."""
    start = PHASES.index(resume.phase) if resume else 0
    first, after = _position(resume.after) if resume else (1, None)
    if start == 0:
        for page, members in site.pages("members", first):
            for member in _after(members, after):
                event = {"event": "member-account-updated", "type": "member", "data": member}
                yield Listed("member", str(member.get("id")), event, _at("members", page, member))
            after = None
        first, after = 1, None
    payments = _payments(site)  # where each subscription's payments leave it
    for page, subscriptions in site.pages("subscriptions", first):
        for subscription in _after(subscriptions, after):
            yield from _subscription(subscription, payments, page, summary)
        after = None


def _subscription(sub: dict, payments: dict, page: int, summary: Summary) -> Iterator[Listed]:
    sub_id, status = str(sub.get("id")), sub.get("status")
    event_type = _EVENTS.get(status)
    if event_type is None:
        summary.skip("subscription", sub_id, f"status {status!r} is not one memberflow knows")
        return
    paid_through, failed = payments.get(sub_id, (None, None))
    data = sub | {"expires_at": paid_through} if paid_through else sub
    event = {"event": event_type, "type": "subscription", "data": data}
    checkpoint = _at("subscriptions", page, sub)
    failed = failed if status in RUNNING else None
    yield Listed("subscription", sub_id, event, None if failed else checkpoint)
    if failed is not None:  # with its subscription written out, as its webhook has it
        txn = failed | {"subscription": sub}
        event = {"event": "recurring-transaction-failed", "type": "transaction", "data": txn}
        yield Listed("invoice", f"mepr-txn-{txn.get('id')}", event, checkpoint)


def _payments(site: Site) -> dict[str, tuple[str | None, dict | None]]:
    """Per subscription, what its transactions say now: paid through (the latest completed
    payment's `expires_at`) and the failed payment after it, if any (the dunning case). Memory
    grows with subscriptions, not with years of payments."""
    paid: dict[str, tuple[str, str]] = {}  # subscription -> (created_at, expires_at)
    failed: dict[str, dict] = {}
    for _, transactions in site.pages("transactions"):
        for txn in transactions:
            sub_id = _id_of(txn.get("subscription"))
            created, status = str(txn.get("created_at") or ""), txn.get("status")
            if sub_id is None:
                continue  # a one-off purchase
            if status == "complete" and created >= paid.get(sub_id, ("", ""))[0]:
                paid[sub_id] = (created, str(txn.get("expires_at") or ""))
            elif status == "failed" and created >= str(
                failed.get(sub_id, {}).get("created_at", "")
            ):
                failed[sub_id] = txn
    now: dict[str, tuple[str | None, dict | None]] = {}
    for sub_id in paid.keys() | failed.keys():
        paid_at, paid_through = paid.get(sub_id, ("", None))
        last_failed = failed.get(sub_id)
        if last_failed is not None and str(last_failed.get("created_at")) <= paid_at:
            last_failed = None  # a later payment went through: nothing to dun
        now[sub_id] = (paid_through or None, last_failed)
    return now


def _id_of(reference) -> str | None:
    found = reference.get("id") if isinstance(reference, dict) else reference
    return None if found in (None, "", 0, "0") else str(found)


def _at(phase: str, page: int, item: dict) -> tuple[str, str]:
    return phase, f"{page}:{item.get('id')}"


def _position(after: str | None) -> tuple[int, str | None]:
    page, _, object_id = (after or "1:").partition(":")
    return int(page), object_id or None


def _after(items: list[dict], after: str | None) -> list[dict]:
    """The page's objects after the one last written (all of them when it is not there)."""
    ids = [str(item.get("id")) for item in items]
    return items[ids.index(after) + 1 :] if after in ids else items
