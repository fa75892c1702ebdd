"""memberflow's own webhook format, for any other system (and Zapier): one JSON event in
memberflow's words, signed like memberflow's outgoing webhooks (`Memberflow-Timestamp`,
`Memberflow-Signature: v1=HMAC-SHA256(secret, "timestamp.body")`)."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from memberflow.core import signing
from memberflow.core.feedback import valid_answer
from memberflow.core.settings import Settings
from memberflow.ingress import changes as c
from memberflow.ingress.changes import Change, Received, Rejected
from memberflow.ingress.provider import (
    Provider,
    SignedRequest,
    header,
    json_body,
    required_secret,
)

NAME = "memberflow"
EventType = Literal[tuple(name.removeprefix("memberflow.") for name in c.EVENT_NAMES)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class MemberIn(_Strict):
    id: str = Field(min_length=1, max_length=255, description="Your id for the member.")
    email: str | None = Field(None, max_length=320, description="Needed to create a new member.")
    first_name: str | None = Field(None, max_length=255)
    last_name: str | None = Field(None, max_length=255)


class SubscriptionIn(_Strict):
    id: str = Field(min_length=1, max_length=255, description="Your id for the subscription.")
    status: Literal["active", "trialing", "past_due", "paused", "canceled"] | None = None
    product_id: str | None = Field(None, max_length=255)
    product_name: str | None = Field(None, max_length=255)
    amount_minor: int | None = Field(None, ge=0, description="Price in minor units (cents).")
    currency: str | None = Field(None, pattern="^[A-Z]{3}$", description="ISO 4217 code.")
    interval: Literal["day", "week", "month", "year"] | None = None
    current_period_end: AwareDatetime | None = None
    trial_end: AwareDatetime | None = None
    cancel_reason: str | None = Field(None, max_length=64)
    cancel_feedback: str | None = Field(None, max_length=64)
    cancel_comment: str | None = Field(None, max_length=1000)


class InvoiceIn(_Strict):
    id: str = Field(min_length=1, max_length=255)
    amount_minor: int | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern="^[A-Z]{3}$")
    status: Literal["open", "paid", "void", "uncollectible"] | None = None
    attempt_count: int | None = Field(None, ge=0)
    decline_code: str | None = Field(None, max_length=64)
    advice_code: str | None = Field(None, max_length=64)
    failure_message: str | None = Field(None, max_length=1000)
    hosted_url: str | None = Field(None, max_length=1000)
    next_attempt_at: AwareDatetime | None = None


class CardIn(_Strict):
    last4: str | None = Field(None, pattern="^[0-9]{4}$")
    exp_month: int | None = Field(None, ge=1, le=12)
    exp_year: int | None = Field(None, ge=2000, le=2200)


class AnswerIn(_Strict):
    """A survey answer from another tool, with memberflow's reason codes or a score."""

    survey: Literal["exit", "nps"]
    answer: str = Field(
        max_length=32,
        description="exit: too_expensive, unused, missing_features, switched_service, "
        "technical_issues, customer_service, too_complex, other; nps: 0 to 10.",
    )
    comment: str | None = Field(None, max_length=2000)
    source: str = Field("memberflow", max_length=32, description="The tool, e.g. typeform.")
    key: str | None = Field(
        None,
        max_length=300,
        description="One answer per key (the last counts); default: the event id.",
    )

    @model_validator(mode="after")
    def _known_answer(self) -> "AnswerIn":
        if not valid_answer(self.survey, self.answer):
            raise ValueError(f"{self.answer!r} is not an answer to the {self.survey} survey")
        return self


class MemberflowEvent(_Strict):
    """One event in memberflow's words. `occurred_at` orders events that arrive out of order."""

    id: str = Field(
        min_length=1, max_length=255, description="Unique per event; repeats are ignored."
    )
    type: EventType
    occurred_at: AwareDatetime
    member: MemberIn
    subscription: SubscriptionIn | None = None
    invoice: InvoiceIn | None = None
    card: CardIn | None = None
    answer: AnswerIn | None = None


def authenticate(received: Received, secret: str, tolerance: int) -> None:
    headers = {
        signing.TIMESTAMP_HEADER: received.headers.get(signing.TIMESTAMP_HEADER.lower(), ""),
        signing.SIGNATURE_HEADER: received.headers.get(signing.SIGNATURE_HEADER.lower(), ""),
    }
    if not all(headers.values()):
        raise Rejected(401, "no Memberflow-Timestamp and Memberflow-Signature headers")
    if not signing.verify(secret, headers, received.body, tolerance):
        raise Rejected(
            401, "bad or stale Memberflow-Signature (check MEMBERFLOW_WEBHOOK_SECRET and the clock)"
        )


def translate(received: Received) -> Change:
    c.parse_json_object(received.body)  # a clear 400 for what is not JSON at all
    if b"\\u0000" in received.body:
        raise Rejected(422, "text must not contain NUL characters (\\u0000)")
    try:
        event = MemberflowEvent.model_validate_json(received.body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Rejected(422, f"`{where}`: {first['msg']}", where) from None
    return Change(
        provider=NAME,
        event_id=event.id,
        event_type=event.type,
        occurred_at=event.occurred_at,
        event=f"memberflow.{event.type}",
        member=c.MemberData(
            event.member.id, event.member.email, event.member.first_name, event.member.last_name
        ),
        subscription=_subscription(event.subscription),
        invoice=c.InvoiceData(**_renamed(event.invoice)) if event.invoice else None,
        card=c.CardData(**event.card.model_dump()) if event.card else None,
        answer=_answer(event),
    )


def _answer(event: MemberflowEvent) -> c.AnswerData | None:
    if event.answer is None:
        if event.type == "survey.answered":
            raise Rejected(422, "a survey.answered event needs `answer`", "answer")
        return None
    given = event.answer
    key = given.key or f"{given.survey}:{event.member.id}:{event.id}"
    return c.AnswerData(given.survey, given.answer, given.comment, given.source, key)


def _renamed(model: BaseModel, **names: str) -> dict:
    values = model.model_dump(exclude_none=True)
    values["external_id"] = values.pop("id")
    for old, new in names.items():
        if old in values:
            values[new] = values.pop(old)
    return values


def _subscription(sub: SubscriptionIn | None) -> c.SubscriptionData | None:
    if sub is None:
        return None
    return c.SubscriptionData(**_renamed(sub, product_id="product_external_id"))


def _sign(body: bytes, settings: Settings) -> SignedRequest:
    headers = signing.sign(required_secret(settings, "webhook_secret"), body)
    return SignedRequest(body, {"Content-Type": "application/json", **headers})


PROVIDER = Provider(
    name=NAME,
    setting="webhook_secret",
    authenticate=lambda received, settings: authenticate(
        received, settings.secret("webhook_secret"), settings.webhook_tolerance_seconds
    ),
    translate=lambda received, settings: translate(received),
    sign=_sign,
    summary="memberflow's own event format, signed with Memberflow-Signature",
    openapi={
        "parameters": [
            header("Memberflow-Timestamp", "Unix seconds when signed."),
            header("Memberflow-Signature", "v1=hex HMAC-SHA256 of 'timestamp.body'."),
        ],
        "requestBody": json_body({"$ref": "#/components/schemas/MemberflowEvent"}),
    },
    schemas=(MemberflowEvent,),
)
