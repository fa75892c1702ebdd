"""Dunning's tables: a case per failed invoice and every charge attempt it made."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from memberflow.core.db import utc_field as _utc


class CaseStatus(StrEnum):
    open = "open"  # memberflow is working on it
    paused = "paused"  # the gateway failed (credentials, outage): ops resume it
    closed = "closed"  # see `outcome`


class CaseOutcome(StrEnum):
    recovered = "recovered"  # a memberflow retry collected the payment
    paid_elsewhere = "paid_elsewhere"  # the member, the provider or ops collected it
    canceled = "canceled"  # final action: the subscription was canceled
    paused = "paused"  # final action: the subscription was paused
    unpaid = "unpaid"  # final action: marked unpaid, access kept for some days
    written_off = "written_off"  # the provider voided the invoice or gave up on it


# the outcomes in which the bill was paid in the end: a case "recovered" in every report
PAID_OUTCOMES = (CaseOutcome.recovered.value, CaseOutcome.paid_elsewhere.value)


OPEN_CASES_SQL = "status IN ('open', 'paused')"


class DunningCase(SQLModel, table=True):
    """The recovery of one failed invoice: what failed, what was tried, said, and how it ended."""

    __tablename__ = "dunning_case"
    # The daily run walks open cases only, by id, never the history of closed ones.
    __table_args__ = (
        Index(
            "ix_dunning_case_open",
            "id",
            sqlite_where=text(OPEN_CASES_SQL),
            postgresql_where=text(OPEN_CASES_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", unique=True)  # one case per invoice
    subscription_id: int = Field(foreign_key="subscription.id", index=True)
    status: str = Field(default=CaseStatus.open, max_length=16)
    category: str = Field(
        max_length=16
    )  # soft, needs_member, hard (memberflow.pipelines.dunning.policy)
    decline_code: str | None = Field(default=None, max_length=64)
    advice_code: str | None = Field(default=None, max_length=64)
    opened_at: datetime = _utc()  # the failure the schedule counts from
    card: str | None = Field(default=None, max_length=300)  # member:last4:mm/yyyy that failed
    retries: int = 0  # charges memberflow attempted
    last_retry_at: datetime | None = _utc(nullable=True)
    next_retry_at: datetime | None = _utc(nullable=True)
    notices: str = Field(default="", max_length=200)  # member emails planned, comma-separated
    escalated_at: datetime | None = _utc(nullable=True)
    paused_reason: str | None = Field(default=None, max_length=1000)
    # a case paused by the gateway tries it again by itself, less and less often
    next_probe_at: datetime | None = _utc(nullable=True)
    probes: int = 0
    final_action: str | None = Field(default=None, max_length=16)
    access_until: datetime | None = _utc(nullable=True)
    event_emitted_at: datetime | None = _utc(nullable=True)  # the final action's Prefect event
    closed_at: datetime | None = _utc(nullable=True)
    outcome: str | None = Field(default=None, max_length=16)
    recovered_by: str | None = Field(default=None, max_length=64)  # which step collected it
    recovered_minor: int = 0


class AttemptStatus(StrEnum):
    pending = "pending"  # written before the gateway is called; a crash leaves it for a replay
    succeeded = "succeeded"
    declined = "declined"
    error = "error"  # the gateway failed; not a decline, not counted as a retry


class ChargeAttempt(SQLModel, table=True):
    """One retry of one invoice's payment. Its key is the gateway's idempotency key."""

    __tablename__ = "charge_attempt"
    __table_args__ = (Index("ix_charge_attempt_card", "card", "attempted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    case_id: int = Field(foreign_key="dunning_case.id", index=True)
    number: int  # 1 for the case's first retry
    reason: str = Field(max_length=32)  # schedule, payday, new_card
    card: str | None = Field(default=None, max_length=300)
    attempted_at: datetime = _utc()
    status: str = Field(default=AttemptStatus.pending, max_length=16)
    decline_code: str | None = Field(default=None, max_length=64)
    message: str | None = Field(default=None, max_length=1000)
