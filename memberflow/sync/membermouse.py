"""MemberMouse members, refreshed through its API (`{API URL}?q=/getMember`, a form POST with
`apikey`, `apisecret` and `member_id`; the answer `{"response_code": "200", "response_data":
{...}}`), as the status-change push notification that would have told memberflow of them:
`providers/membermouse.translate` reads them, as it reads a notification.

MemberMouse's API has no call that lists members, and no event list: a sync can only ask
after the members memberflow already knows (from its notifications or an import), one call
each. That is also its reconcile: what the refresh finds changed is what the notifications
missed.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import requests
from sqlalchemy import Engine, select

from memberflow.core.models import Member, Subscription
from memberflow.core.settings import Settings
from memberflow.ingress.providers import membermouse as provider
from memberflow.sync.apply import resumable_sync
from memberflow.sync.checkpoint import Resume
from memberflow.sync.listed import Listed, Summary
from memberflow.sync.pacing import Pace, of_response, paced

REQUESTS_PER_SECOND = 5.0
# what a status-change notification carries, of what getMember answers
_FIELDS = (
    "member_id",
    "first_name",
    "last_name",
    "email",
    "status",
    "status_name",
    "membership_level",
    "membership_level_name",
)
AGAIN = "each member written is whole: run it again, it resumes where it stopped"


class SyncStopped(RuntimeError):
    """The refresh could not go on; what was written before is whole, and the next resumes."""


@dataclass
class Api:
    """MemberMouse's API (MemberMouse > Developer Tools > API Credentials)."""

    url: str  # https://example.com/wp-content/plugins/membermouse/api/request.php
    key: str
    secret: str
    pace: Pace
    timeout: float = 30.0

    def __post_init__(self):
        self.http = requests.Session()

    def member(self, member_id: str) -> dict | None:
        """The member as getMember answers (None: MemberMouse no longer has them)."""
        form = {"apikey": self.key, "apisecret": self.secret, "member_id": member_id}
        try:
            answer, gave_up = paced(
                self.pace,
                lambda: self.http.post(
                    self.url, params={"q": "/getMember"}, data=form, timeout=self.timeout
                ),
                of_response,
            )
        except requests.RequestException as error:
            raise SyncStopped(f"cannot reach {self.url} ({error}); {AGAIN}") from None
        if gave_up:
            raise SyncStopped(f"{self.url} kept answering 429; {AGAIN}")
        return self._member_of(answer)

    def _member_of(self, answer: requests.Response) -> dict | None:
        try:
            found = answer.json()
        except ValueError:
            raise SyncStopped(
                f"{self.url} did not answer JSON (HTTP {answer.status_code}): is it the API URL "
                "from MemberMouse > Developer Tools > API Credentials?"
            ) from None
        code = str(found.get("response_code", answer.status_code))
        message = str(found.get("response_message") or f"HTTP {answer.status_code}")
        refused = code in ("401", "403") or "credential" in message.lower()
        if code == "409" and not refused:  # the one failure getMember documents: no such member
            return None
        if code != "200":
            if refused:
                raise SyncStopped(
                    f"MemberMouse refused the API key and secret ({message}): copy both again "
                    "from MemberMouse > Developer Tools > API Credentials"
                )
            raise SyncStopped(f"MemberMouse answered {code}: {message}; {AGAIN}")
        data = found.get("response_data")
        if not isinstance(data, dict):
            raise SyncStopped(f"{self.url} answered without response_data: is it MemberMouse?")
        return data


def api_from(settings: Settings) -> Api:
    """The API the settings name (the flows'), or what to set."""
    names = ("membermouse_api_key", "membermouse_api_secret")
    key, secret = (settings.secret(name) for name in names)
    if not settings.membermouse_api_url or not key or not secret:
        raise ValueError(
            "set MEMBERFLOW_MEMBERMOUSE_API_URL, MEMBERFLOW_MEMBERMOUSE_API_KEY and "
            "MEMBERFLOW_MEMBERMOUSE_API_SECRET where the flow runs (the worker's environment) "
            "to read MemberMouse"
        )
    return Api(settings.membermouse_api_url, key, secret, Pace(REQUESTS_PER_SECOND))


def sync(
    engine: Engine,
    api: Api,
    *,
    currency: str,
    dry_run: bool,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Refreshes every MemberMouse member memberflow knows (`memberflow sync membermouse`),
    resuming a cut refresh."""
    return resumable_sync(
        engine,
        provider.NAME,
        partial(provider.translate, currency=currency),
        lambda summary, resume, _: listed(engine, api, summary=summary, resume=resume),
        dry_run=dry_run,
        progress=progress,
    )


def listed(
    engine: Engine, api: Api, *, summary: Summary, resume: Resume | None = None
) -> Iterator[Listed]:
    """Each known MemberMouse member as MemberMouse has them now, in memberflow's order."""
    after = int(resume.after) if resume and resume.after else 0
    for row_id, member_id in known_members(engine, after):
        found = api.member(member_id)
        if found is None:
            summary.skip("member", member_id, "MemberMouse no longer has this member")
            continue
        if not found.get("membership_level"):
            summary.skip("member", member_id, "no membership level at MemberMouse")
            continue
        params = {"event_type": "mm_member_status_change"}
        params |= {name: str(found[name]) for name in _FIELDS if found.get(name) is not None}
        # as MemberMouse posts it: a form
        body = provider.stored_body(params)
        yield Listed("member", member_id, body, ("members", str(row_id)))


def known_members(engine: Engine, after: int, batch: int = 500) -> Iterator[tuple[int, str]]:
    """(memberflow's id, MemberMouse's id) of each member with a MemberMouse subscription
    (`mm-<member>-<level>`), after memberflow's id `after`, a batch at a time."""
    while True:
        query = (
            select(Member.id, Member.external_id)
            .join(Subscription, Subscription.member_id == Member.id)
            .where(Subscription.external_id.like("mm-%"), Member.id > after)
            .group_by(Member.id, Member.external_id)
            .order_by(Member.id)
            .limit(batch)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][0]
