"""`memberflow import FILE.csv`: members, products and subscriptions, upserted by external id."""

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from babel.numbers import is_currency
from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import Engine
from sqlmodel import Session, select

from memberflow.core.models import Member, Product, Subscription
from memberflow.core.schedule import card_valid_until, zone

REQUIRED = [
    "member_external_id",
    "email",
    "product_external_id",
    "subscription_external_id",
    "status",
    "amount_minor",
    "currency",
    "interval",
    "current_period_end",
]


class ImportRow(BaseModel):
    """One CSV line. Columns are documented in the README ("Importing members")."""

    member_external_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    locale: str = "en"
    time_zone: str = "UTC"
    billing_address: str | None = None
    shipping_address: str | None = None
    product_external_id: str
    product_name: str | None = None
    product_value_amplifier: str | None = None
    subscription_external_id: str
    status: Literal["active", "trialing", "past_due", "paused", "canceled"]
    amount_minor: int
    currency: str
    interval: Literal["month", "year"]
    current_period_end: datetime
    trial_end: datetime | None = None
    card_last4: str | None = None
    card_expiry: str | None = None  # MM/YYYY
    marketing_consent: bool | None = None  # empty: leave what memberflow knows
    canceled_at: datetime | None = None
    cancel_reason: str | None = None
    started_at: datetime | None = None  # when the member started: their tenure

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError("is not an email address")
        return value.strip()

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        if zone(value).key != value:
            raise ValueError("is not an IANA time zone such as Europe/Paris")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not is_currency(value.upper()):
            raise ValueError("is not an ISO 4217 currency code such as USD or EUR")
        return value.upper()

    @field_validator("amount_minor")
    @classmethod
    def _amount(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @field_validator("current_period_end", "trial_end", "canceled_at", "started_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-01T09:00:00Z")
        return value

    @field_validator("card_last4")
    @classmethod
    def _last4(cls, value: str | None) -> str | None:
        if value and not (len(value) == 4 and value.isdigit()):
            raise ValueError("must be the last 4 digits of the card")
        return value

    @field_validator("card_expiry")
    @classmethod
    def _expiry(cls, value: str | None) -> str | None:
        if value:
            month, _, year = value.partition("/")
            if not (
                month.isdigit() and year.isdigit() and 1 <= int(month) <= 12 and len(year) == 4
            ):
                raise ValueError("must be MM/YYYY, e.g. 09/2027")
        return value


@dataclass
class ImportReport:
    loaded: int = 0
    problems: list[str] = field(default_factory=list)


def read_rows(path: Path) -> tuple[list[tuple[int, ImportRow]], list[str]]:
    """Parses and validates every line; returns the good rows with line numbers, and problems."""
    good, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
        if missing:
            return [], [f"{path}: missing column(s) {', '.join(missing)}; see the README"]
        for record in reader:
            line = reader.line_num
            values = {k: v.strip() for k, v in record.items() if k and v and v.strip()}
            try:
                good.append((line, ImportRow(**values)))
            except ValidationError as error:
                problems += [f"line {line}: {_explain(issue)}" for issue in error.errors()]
    return good, problems


def _explain(issue: dict) -> str:
    column = ".".join(str(part) for part in issue["loc"]) or "row"
    message = issue["msg"].removeprefix("Value error, ")
    if issue["type"] == "missing":
        return f"{column}: is required but empty"
    return f"{column}: {message} (got {issue.get('input')!r})"


def import_csv(engine: Engine, path: Path) -> ImportReport:
    """Loads the good rows (one transaction) and reports the bad ones by line number."""
    rows, problems = read_rows(path)
    with Session(engine) as session:
        for _line, row in rows:
            upsert_row(session, row)
        session.commit()
    return ImportReport(loaded=len(rows), problems=problems)


def _upsert(session: Session, model: type, external_id: str, **values):
    found = session.exec(select(model).where(model.external_id == external_id)).first()
    instance = found or model(external_id=external_id, **values)
    for name, value in values.items():
        setattr(instance, name, value)
    session.add(instance)
    session.flush()
    return instance


def upsert_row(session: Session, row: ImportRow) -> Subscription:
    product_values = {"name": row.product_name or row.product_external_id}
    if row.product_value_amplifier:
        product_values["value_amplifier"] = row.product_value_amplifier
    product = _upsert(session, Product, row.product_external_id, **product_values)
    member = _upsert(
        session,
        Member,
        row.member_external_id,
        **row.model_dump(
            include={
                "email",
                "first_name",
                "last_name",
                "locale",
                "time_zone",
                "billing_address",
                "shipping_address",
            }
        ),
        **({} if row.marketing_consent is None else {"marketing_consent": row.marketing_consent}),
    )
    month, year = _card_expiry(row.card_expiry)
    return _upsert(
        session,
        Subscription,
        row.subscription_external_id,
        member_id=member.id,
        product_id=product.id,
        card_exp_month=month,
        card_exp_year=year,
        card_valid_until=card_valid_until(month, year) if month else None,
        **row.model_dump(
            include={
                "status",
                "amount_minor",
                "currency",
                "interval",
                "current_period_end",
                "trial_end",
                "card_last4",
                "canceled_at",
                "cancel_reason",
                "started_at",
            }
        ),
    )


def _card_expiry(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    month, _, year = value.partition("/")
    return int(month), int(year)
