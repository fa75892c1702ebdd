"""The schema. Money is integer minor units plus an ISO 4217 code; every timestamp is aware UTC."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from memberflow.core.db import utc_field as _utc


class TouchpointStatus(StrEnum):
    pending = "pending"  # planned, not yet sent
    sending = "sending"  # claimed by a run that is delivering it now
    sent = "sent"
    failed = "failed"  # last try failed; a later run tries again
    dead = "dead"  # failed too often; needs a person
    expired = "expired"  # found too late to be right any more
    skipped = "skipped"  # no longer applies (canceled, date moved, no consent, unsubscribed)
    held = "held"  # the contact cap held it back until it was too late


OPEN = (TouchpointStatus.pending, TouchpointStatus.failed, TouchpointStatus.sending)
OPEN_SQL = "status IN ('pending', 'failed', 'sending')"


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=255)
    name: str = Field(max_length=255)
    value_amplifier: str | None = Field(default=None, description="Perks to mention in reminders.")
    # the language `name` and `value_amplifier` are written in (the business's default if empty)
    default_locale: str | None = Field(default=None, max_length=16)
    # the same words in other languages (JSON): {"fr": {"name": ..., "value_amplifier": ...}}
    translations: str | None = None


class Member(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=255)
    email: str = Field(max_length=320)
    first_name: str = Field(default="", max_length=255)
    last_name: str = Field(default="", max_length=255)
    locale: str = Field(default="en", max_length=16)
    time_zone: str = Field(default="UTC", max_length=64)
    # why `email` cannot receive mail, when a provider sent one that is not an address: kept as
    # sent, and messages wait (failed, retried) until the provider sends a good one
    email_problem: str | None = Field(default=None, max_length=500)
    billing_address: str | None = None
    shipping_address: str | None = None
    # the provider's time of the newest event applied, so an older one arriving late is ignored
    provider_updated_at: datetime | None = _utc(nullable=True)
    # marketing messages (win-backs, surveys) go only to members who agreed and never after an
    # unsubscribe; an erased member gets nothing at all (docs/consent.md)
    marketing_consent: bool = Field(default=False)
    unsubscribed_at: datetime | None = _utc(nullable=True)
    erased_at: datetime | None = _utc(nullable=True)


class Subscription(SQLModel, table=True):
    # (anchor column, id): pipelines page through a date range in this order, batch by batch
    __table_args__ = (
        Index("ix_subscription_renewal", "current_period_end", "id"),
        Index("ix_subscription_trial_end", "trial_end", "id"),
        Index("ix_subscription_card_valid_until", "card_valid_until", "id"),
        Index("ix_subscription_canceled_at", "canceled_at", "id"),
        Index("ix_subscription_started_at", "started_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=255)
    member_id: int = Field(foreign_key="member.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    status: str = Field(max_length=32)  # active, trialing, past_due, paused, canceled
    amount_minor: int
    currency: str = Field(max_length=3)
    interval: str = Field(max_length=8)  # month, year
    current_period_end: datetime = _utc()
    trial_end: datetime | None = _utc(nullable=True)
    card_last4: str | None = Field(default=None, max_length=4)
    card_exp_month: int | None = None
    card_exp_year: int | None = None
    card_valid_until: date | None = None
    canceled_at: datetime | None = _utc(nullable=True)
    cancel_reason: str | None = Field(default=None, max_length=64)
    cancel_feedback: str | None = Field(default=None, max_length=64)
    cancel_comment: str | None = Field(default=None, max_length=1000)
    # canceled by the member, effective at current_period_end: still active until then
    cancel_at_period_end: bool = Field(default=False)
    # collection paused until then (Stripe's pause_collection.resumes_at): a reminder before
    pause_resumes_at: datetime | None = _utc(nullable=True, index=True)
    # when access ended, where the provider says (Stripe's `ended_at`): a period-end
    # cancellation's deletion ends access at the period's end, long after `canceled_at`
    ended_at: datetime | None = _utc(nullable=True)
    provider_updated_at: datetime | None = _utc(nullable=True)
    created_at: datetime | None = _utc(nullable=True)  # when memberflow first heard of it
    started_at: datetime | None = _utc(nullable=True)  # when the member started: tenure


class InvoiceStatus(StrEnum):
    open = "open"  # issued, not paid yet (a failed payment leaves it open)
    paid = "paid"
    void = "void"
    uncollectible = "uncollectible"


class Invoice(SQLModel, table=True):
    """One bill of a subscription, with what the provider said about its last payment attempt."""

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(unique=True, index=True, max_length=255)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    amount_minor: int
    currency: str = Field(max_length=3)
    status: str = Field(default=InvoiceStatus.open, max_length=16)
    attempt_count: int = 0
    decline_code: str | None = Field(default=None, max_length=64)
    advice_code: str | None = Field(default=None, max_length=64)
    failure_message: str | None = Field(default=None, max_length=1000)
    hosted_url: str | None = Field(default=None, max_length=1000)
    next_attempt_at: datetime | None = _utc(nullable=True)
    paid_at: datetime | None = _utc(nullable=True)
    provider_updated_at: datetime | None = _utc(nullable=True)


class Touchpoint(SQLModel, table=True):
    """The outbox: one row per message that a pipeline owes a member, written before it is sent."""

    # Only open rows are indexed for delivery, so a run never walks the history of sent ones.
    __table_args__ = (
        Index(
            "ix_touchpoint_open",
            "pipeline",
            "id",
            sqlite_where=text(OPEN_SQL),
            postgresql_where=text(OPEN_SQL),
        ),
        # an experiment's results count its messages per variant straight off this index
        Index("ix_touchpoint_experiment", "experiment", "variant"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=400)
    pipeline: str = Field(max_length=32)
    step: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    anchor_at: datetime = _utc()
    due_at: datetime = _utc()
    status: str = Field(default=TouchpointStatus.pending, max_length=16)
    attempts: int = 0
    # a message that failed in a way worth retrying is tried again from then on, not before
    next_attempt_at: datetime | None = _utc(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _utc(nullable=True)
    sent_at: datetime | None = _utc(nullable=True)
    error: str | None = Field(default=None, max_length=1000)
    receipt: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _utc()
    # a touchpoint about one bill (dunning): the send-time check reads the invoice's status
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id", index=True)
    # what the pipeline knew when it planned the message (JSON), e.g. the next retry's date
    context: str | None = None
    # the experiment the message took part in, and the variant it got (or "holdout": none)
    experiment: str | None = Field(default=None, max_length=64)
    variant: str | None = Field(default=None, max_length=64)


class Cancellation(SQLModel, table=True):
    """One member leaving one subscription, in every provider's words: when they asked, when
    access ends, whether it was their choice, what they said; and, if they came back, when and
    after which message. Read by the follow-up pipeline, the surveys and the analytics."""

    __table_args__ = (Index("ix_cancellation_open", "subscription_id", "returned_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=100)  # subscription id and when: recorded once
    subscription_id: int = Field(foreign_key="subscription.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    canceled_at: datetime = _utc()  # when it was asked for (or happened)
    access_end: datetime = _utc()  # when access ends (a cancellation at period end: later)
    involuntary: bool = False  # failed payments ended it, not the member
    reason: str | None = Field(default=None, max_length=64)  # the provider's
    feedback: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)
    recorded_at: datetime = _utc()
    returned_at: datetime | None = _utc(nullable=True)
    returned_how: str | None = Field(default=None, max_length=32)  # reactivated, new_subscription
    # the last marketing message sent before the return, within the attribution window
    won_back_by: str | None = Field(default=None, max_length=400)  # its touchpoint key
    won_back_offer: str | None = Field(default=None, max_length=64)


class SurveyResponse(SQLModel, table=True):
    """One member's answer to one survey (an exit survey after a cancellation, a satisfaction
    survey at a tenure): opened, answered, changed until the link expires; the last counts."""

    __tablename__ = "survey_response"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=400)  # the survey invitation: one answer each
    survey: str = Field(max_length=16)  # exit, nps
    member_id: int = Field(foreign_key="member.id", index=True)
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    answer: str | None = Field(default=None, max_length=32)  # a reason code, or a score 0-10
    comment: str | None = Field(default=None, max_length=2000)
    source: str = Field(default="page", max_length=32)  # page, provider, or a tool's name
    opened_at: datetime | None = _utc(nullable=True)  # the first time the link was opened
    opens: int = 0
    answered_at: datetime | None = _utc(nullable=True, index=True)


class SigningKey(SQLModel, table=True):
    """Keys memberflow makes for itself when none is configured (the links in emails)."""

    __tablename__ = "signing_key"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    created_at: datetime = _utc()


class LifecycleFact(SQLModel, table=True):
    """One fact of a subscription's lifecycle, never overwritten (memberflow.core.lifecycle):
    its id is the order memberflow learned it in, `occurred_at` its source's clock."""

    __tablename__ = "lifecycle_fact"
    __table_args__ = (Index("ux_lifecycle_fact", "subscription_id", "kind", "source", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    kind: str = Field(max_length=32)  # canceled, reactivated, cancel_intent
    occurred_at: datetime = _utc()
    learned_at: datetime = _utc()
    source: str = Field(max_length=200)  # stripe:evt_..., memberflow:dunning, import
    reason: str | None = Field(default=None, max_length=64)
    feedback: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class DatabaseRole(SQLModel, table=True):
    """Whether this database is real or a simulation, recorded by its first run that writes
    (memberflow.core.clock): the two never share a database."""

    __tablename__ = "database_role"

    id: int = Field(default=1, primary_key=True)
    role: str = Field(max_length=16)  # real or simulation
    since: datetime = _utc()


class Experiment(SQLModel, table=True):
    """A test of one step's message: variants (another template, subject or offer) and a
    holdout that gets none, each member assigned by a hash (memberflow.messaging.experiments)."""

    name: str = Field(primary_key=True, max_length=64)
    pipeline: str = Field(max_length=32)
    step: str = Field(max_length=64)
    definition: str  # the ExperimentPlan as JSON: products, holdout, variants
    started_at: datetime = _utc()
    stopped_at: datetime | None = _utc(nullable=True)


class PlanningWatermark(SQLModel, table=True):
    """How far a pipeline's planning has got: the `as_of` of its last completed planning pass.

    The next run accounts for every touchpoint due since then, however long the gap, and no
    earlier: a daily run reads one day of anchors, not the whole history.
    """

    __tablename__ = "planning_watermark"

    pipeline: str = Field(primary_key=True, max_length=32)
    planned_through: datetime = _utc()
    updated_at: datetime = _utc()
    # the last lifecycle fact (its id) the pipeline had seen: what it learned since is new,
    # whatever the provider's clock says (a webhook delivered late)
    learned_through: int | None = None


class SyncCheckpoint(SQLModel, table=True):
    """How far an unfinished sync from a provider has got: the list it was reading, the last
    object written (the next page starts after it) and the summary so far. Written with each
    object, in its transaction; deleted when the sync ends. A cut sync resumes from here."""

    __tablename__ = "sync_checkpoint"

    provider: str = Field(primary_key=True, max_length=32)
    phase: str = Field(max_length=32)  # "customers", "subscriptions", ...: the provider's lists
    after: str | None = Field(default=None, max_length=255)
    summary: str = "{}"  # the counts so far, as JSON
    started_at: datetime = _utc()
    updated_at: datetime = _utc()


class CancelVisit(SQLModel, table=True):
    """One member's visit to the cancel page of one link: what they were shown and what they
    decided, recorded before anything is done at the provider (`carried_out_at` says it was).
    The link's digest keys it, so a double submit or a second tab is the same visit."""

    __tablename__ = "cancel_visit"

    id: int | None = Field(default=None, primary_key=True)
    link_key: str = Field(max_length=64, unique=True)  # sha256 of the link's token
    member_id: int = Field(foreign_key="member.id", index=True)
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    opened_at: datetime = _utc()
    reason: str | None = Field(default=None, max_length=32)  # an exit-survey reason code
    comment: str | None = None
    offered: str | None = None  # the alternative shown, as JSON (kind, months, code ...)
    withheld: bool = False  # the experiment's holdout: no alternative shown on purpose
    confirm_shown_at: datetime | None = _utc(nullable=True)
    decision: str | None = Field(default=None, max_length=16)  # cancel, pause, switch ...
    decided_at: datetime | None = _utc(nullable=True, index=True)
    carried_out_at: datetime | None = _utc(nullable=True)
    attempts: int = 0
    last_error: str | None = None
    provider_note: str | None = None  # what the provider said when it was carried out


class InboxStatus(StrEnum):
    applied = "applied"  # the domain now reflects it
    stale = "stale"  # older than what the domain already holds: kept, changed nothing
    ignored = "ignored"  # an event type memberflow does not act on
    unmatched = "unmatched"  # names a member or subscription memberflow cannot create from it
    failed = "failed"  # applying raised; `memberflow ingress reapply` tries again


UNEMITTED_SQL = "emitted_at IS NULL AND prefect_event IS NOT NULL"


class InboxEvent(SQLModel, table=True):
    """Every accepted webhook, stored before anything else happens, keyed by the provider's id."""

    __tablename__ = "inbox"
    # Only events still owed to Prefect are indexed, so the emitter never walks the history.
    __table_args__ = (
        Index(
            "ix_inbox_unemitted",
            "id",
            sqlite_where=text(UNEMITTED_SQL),
            postgresql_where=text(UNEMITTED_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=400)  # provider:event id
    provider: str = Field(max_length=32)
    event_id: str = Field(max_length=255)
    event_type: str = Field(max_length=128)
    occurred_at: datetime = _utc()
    received_at: datetime = _utc()
    # "webhook", or "reconcile": fetched from the provider's event list, the webhook lost
    source: str = Field(
        default="webhook", max_length=16, sa_column_kwargs={"server_default": "webhook"}
    )
    status: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=1000)
    body: str  # as received, with anything that looks like a card number masked
    member_id: int | None = Field(default=None, foreign_key="member.id")
    subscription_id: int | None = Field(default=None, foreign_key="subscription.id")
    invoice_id: int | None = Field(default=None, foreign_key="invoice.id")
    prefect_event: str | None = None  # the Prefect event (JSON) this webhook owes, if any
    emitted_at: datetime | None = _utc(nullable=True)
    emit_attempts: int = 0
    emit_error: str | None = Field(default=None, max_length=1000)


# dunning's cases and charge attempts are in dunning_models.py (this file would be too long);
# importing them here puts every table on SQLModel.metadata, whoever imports the models
from memberflow.core.dunning_models import ChargeAttempt, DunningCase  # noqa: E402, F401
