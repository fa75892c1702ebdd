"""What a webhook means, whoever sent it: a provider-neutral change to members, subscriptions
and invoices, plus the memberflow event it announces."""

import hashlib
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime

from memberflow.core.money import to_minor


class Rejected(ValueError):
    """A webhook memberflow will not accept: `status` is the HTTP answer, `field` what is wrong."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def missing(field_path: str) -> Rejected:
    return Rejected(422, f"the payload has no `{field_path}`", field_path)


def malformed(field_path: str, expected: str) -> Rejected:
    return Rejected(422, f"`{field_path}` must be {expected}", field_path)


# memberflow's event names: Prefect automations match on these.
PAYMENT_FAILED = "memberflow.payment.failed"
PAYMENT_SUCCEEDED = "memberflow.payment.succeeded"
SUBSCRIPTION_CREATED = "memberflow.subscription.created"
SUBSCRIPTION_UPDATED = "memberflow.subscription.updated"
SUBSCRIPTION_CANCELED = "memberflow.subscription.canceled"
SUBSCRIPTION_PAUSED = "memberflow.subscription.paused"
SUBSCRIPTION_RESUMED = "memberflow.subscription.resumed"
SUBSCRIPTION_REACTIVATED = "memberflow.subscription.reactivated"
TRIAL_WILL_END = "memberflow.subscription.trial_will_end"
INVOICE_UPCOMING = "memberflow.invoice.upcoming"
CARD_UPDATED = "memberflow.card.updated"
MEMBER_UPDATED = "memberflow.member.updated"
SURVEY_ANSWERED = "memberflow.survey.answered"

EVENT_NAMES = (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_CANCELED,
    SUBSCRIPTION_PAUSED,
    SUBSCRIPTION_RESUMED,
    SUBSCRIPTION_REACTIVATED,
    TRIAL_WILL_END,
    INVOICE_UPCOMING,
    CARD_UPDATED,
    MEMBER_UPDATED,
    SURVEY_ANSWERED,
)

ENDED = ("canceled",)  # subscription states that a same-second update must not undo


@dataclass
class MemberData:
    external_id: str
    email: str | None = None  # needed to create a member memberflow does not know yet
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class SubscriptionData:
    """What the webhook says of a subscription; None means "not said", never "clear it"."""

    external_id: str
    status: str | None = None  # active, trialing, past_due, paused, canceled
    product_external_id: str | None = None
    product_name: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    interval: str | None = None  # month, year
    current_period_end: datetime | None = None
    trial_end: datetime | None = None
    canceled_at: datetime | None = None
    ended_at: datetime | None = None  # when access ended (Stripe's `ended_at`)
    cancel_reason: str | None = None
    cancel_feedback: str | None = None
    cancel_comment: str | None = None
    # canceled by the member, effective at current_period_end (False: that was taken back)
    cancel_at_period_end: bool | None = None
    started_at: datetime | None = None  # when the member started: their tenure
    pause_resumes_at: datetime | None = None  # collection paused until then
    # True: the provider says there is no pause (a pause_resumes_at memberflow had is over)
    unpaused: bool | None = None


@dataclass
class InvoiceData:
    external_id: str
    amount_minor: int | None = None
    currency: str | None = None
    status: str | None = None  # open, paid, void, uncollectible
    attempt_count: int | None = None
    decline_code: str | None = None
    advice_code: str | None = None
    failure_message: str | None = None
    hosted_url: str | None = None
    next_attempt_at: datetime | None = None
    paid_at: datetime | None = None


@dataclass
class CardData:
    last4: str | None
    exp_month: int | None
    exp_year: int | None


@dataclass
class AnswerData:
    """A survey answer collected elsewhere (a Typeform or Google Form, through Zapier)."""

    survey: str  # exit, nps
    answer: str  # a reason code or a score (memberflow.core.feedback)
    comment: str | None = None
    source: str = "memberflow"  # the tool it came from
    key: str | None = None  # one answer per key: the last counts


@dataclass
class Change:
    """One webhook, translated. `event` is None for types memberflow records but ignores."""

    provider: str
    event_id: str
    event_type: str
    occurred_at: datetime
    event: str | None
    member: MemberData | None = None
    subscription: SubscriptionData | None = None
    invoice: InvoiceData | None = None
    card: CardData | None = None
    answer: AnswerData | None = None
    details: dict = field(default_factory=dict)  # extra payload for the Prefect event
    ignored: str | None = None  # why memberflow records this webhook but does not act on it


def ignored(base: dict, why: str) -> Change:
    return Change(**base, event=None, ignored=why)


# -- reading payloads --------------------------------------------------------------------------

_KINDS = {str: "a string", int: "an integer", dict: "an object", list: "a list"}


def lookup(payload: dict, path: str, kind: type | None = None, required: bool = False):
    """`payload["a"]["b"]` for path "a.b"; None when absent (or a Rejected naming the field)."""
    value = payload
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None or value == "":
        if required:
            raise missing(path)
        return None
    if kind is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise malformed(path, _KINDS.get(kind, kind.__name__))
    if isinstance(value, str) and "\x00" in value:
        raise malformed(path, "text without NUL characters")  # PostgreSQL cannot store them
    return value


def split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


@dataclass(frozen=True)
class Received:
    """A webhook as it arrived: header names lower-case, the body untouched."""

    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    received_at: datetime


_BYTE_ORDER_MARKS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def utf8_text(body: bytes) -> str:
    """The body as text. Every provider sends UTF-8 (JSON must be, RFC 8259): anything else is
    refused by name, never guessed at (Python's json would quietly read UTF-16)."""
    try:
        return body.decode("utf-8").removeprefix("\ufeff")  # a UTF-8 byte order mark is harmless
    except UnicodeDecodeError as error:
        seen = next((name for mark, name in _BYTE_ORDER_MARKS.items() if body.startswith(mark)), "")
        looks = f" (it looks like {seen})" if seen else ""
        raise Rejected(
            400,
            f"the body is not UTF-8 text{looks}: byte {error.start} cannot be read; "
            "send it as UTF-8",
        ) from None


def parse_json_object(body: bytes) -> dict:
    import json

    text = utf8_text(body)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise Rejected(400, f"the body is not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "the body must be a JSON object")
    return payload


def content_identified(provider: str, event_type: str, content: bytes, received_at: datetime):
    """The base of a Change from a provider that sends no event id and no event time: a delivery
    is identified by its content (a retry repeats it) and ordered by arrival."""
    return {
        "provider": provider,
        "event_id": f"{event_type}:{hashlib.sha256(content).hexdigest()[:32]}",
        "event_type": event_type,
        "occurred_at": received_at,
    }


def amount(value, field_path: str, currency: str) -> int | None:
    """A decimal amount as the provider writes it ("19.00"), in minor units of `currency`."""
    if value in (None, ""):
        return None
    try:
        return to_minor(str(value), currency)
    except ValueError:
        raise malformed(field_path, f"an amount in {currency} like 19.00") from None


EVENT_ID_LIMIT = 255  # the inbox's column (its key is `provider:event id`, 400)


def unstorable(change: "Change") -> Rejected | None:
    """Why this change can never be stored, whatever the database: text that is not text (a lone
    surrogate), a moment that has no UTC equivalent (year 1 at +01:00), an id longer than its
    column. A 422, so that the provider stops retrying: "retry later" (503) would be forever."""
    if len(change.event_id) > EVENT_ID_LIMIT:
        return Rejected(422, f"the event id is longer than {EVENT_ID_LIMIT} characters", "id")
    return _unstorable(change, "")


def _unstorable(value: object, where: str) -> Rejected | None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return Rejected(422, f"`{where}` is not valid text (a lone surrogate)", where)
    elif isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except (OverflowError, ValueError):
            return Rejected(422, f"`{where}` is not a moment memberflow can store", where)
    elif is_dataclass(value):
        for item in fields(value):
            name = f"{where}.{item.name}" if where else item.name
            problem = _unstorable(getattr(value, item.name), name)
            if problem is not None:
                return problem
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable(key, where) or _unstorable(item, f"{where}.{key}")
            if problem is not None:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = _unstorable(item, where)
            if problem is not None:
                return problem
    return None
