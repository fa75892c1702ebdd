"""`memberflow import FILE.csv`: members, products and subscriptions, upserted by external id."""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from babel.numbers import is_currency
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ValidationError, field_validator, model_validator
from sqlalchemy import Engine
from sqlmodel import Session, select

from memberflow.core import lifecycle
from memberflow.core.console import Progress
from memberflow.core.locales import language_of, normalized
from memberflow.core.models import Member, Product, Subscription
from memberflow.core.money import to_minor
from memberflow.core.schedule import card_valid_until, zone
from memberflow.core.text_files import UnreadableFile, read_text

REQUIRED = [
    "member_external_id",
    "email",
    "product_external_id",
    "subscription_external_id",
    "status",
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
    product_locale: str | None = None  # the language the two columns above are written in
    # from `product_name_fr`, `product_value_amplifier_de`... columns: {locale: {name, ...}}
    product_translations: dict[str, dict[str, str]] | None = None
    subscription_external_id: str
    status: Literal["active", "trialing", "past_due", "paused", "canceled"]
    amount_minor: int | None = None  # in minor units (cents); or `amount`, in major units
    amount: str | None = None  # "19.00"
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
        # syntax only: nothing is looked up on the network
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise ValueError(f"is not an email address: {error}") from None

    @field_validator("locale", "product_locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z]{2})?", value):
            raise ValueError("is not a locale such as fr or fr-CA")
        return normalized(value)

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

    @field_validator("amount_minor", mode="before")
    @classmethod
    def _whole_minor_units(cls, value):
        # "19.00" would quietly become 19 cents: minor units are whole numbers, no decimals
        if isinstance(value, str) and not value.lstrip("-").isdigit():
            raise ValueError(
                "must be a whole number of minor units (cents): 19.00 is 1900; "
                "or give the amount in major units in an `amount` column"
            )
        return value

    @field_validator("amount_minor")
    @classmethod
    def _amount(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _one_amount(self) -> "ImportRow":
        if self.amount is not None:
            try:
                minor = to_minor(self.amount, self.currency)
            except ValueError as error:
                raise ValueError(f"amount: {error}") from None
            if self.amount_minor is not None and self.amount_minor != minor:
                raise ValueError(
                    f"amount {self.amount} and amount_minor {self.amount_minor} differ"
                )
            self.amount_minor = minor
        if self.amount_minor is None:
            raise ValueError("amount_minor (or amount) is required")
        return self

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
    """What an import did (or, in a dry run, would do). Nothing is written if any row is bad."""

    loaded: int = 0
    problems: list[str] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)  # members, products, subscriptions
    changed: dict[str, int] = field(default_factory=dict)
    new_products: list[str] = field(default_factory=list)  # "id (name)": a typo shows here
    encoding: str = "utf-8"  # what the file was read as
    written: bool = False


def read_rows(
    path: Path, locales: tuple[str, ...] | None = None
) -> tuple[list[tuple[int, ImportRow]], list[str], str]:
    """Parses and validates every line; returns the good rows with line numbers, problems and
    the encoding the file was read in. With `locales` (those the templates exist in), a
    member's locale must be one of them."""
    good, problems = [], []
    try:
        content, encoding = read_text(path)
    except UnreadableFile as unreadable:
        return [], [str(unreadable)], ""
    reader = csv.DictReader(io.StringIO(content, newline=""))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
    if missing:
        return [], [f"{path}: missing column(s) {', '.join(missing)}; see the README"], encoding
    for record in reader:
        line = reader.line_num
        values = _with_translations(
            {k: v.strip() for k, v in record.items() if k and v and v.strip()}
        )
        if "amount_minor" not in values and "amount" not in values:
            problems.append(f"line {line}: amount_minor: is required but empty")
            continue
        try:
            row = ImportRow(**values)
        except ValidationError as error:
            problems += [f"line {line}: {_explain(issue)}" for issue in error.errors()]
            continue
        unknown = [
            f"{column}: messages exist in {', '.join(locales)}, not {tag!r}; use one of them "
            "(a regional variant such as fr-CA is fine), or add templates in that language"
            for column, tag in _locales_given(row)
            if locales and tag not in locales and language_of(tag) not in locales
        ]
        if unknown:
            problems += [f"line {line}: {problem}" for problem in unknown]
            continue
        good.append((line, row))
    return good, problems + _conflicts(good), encoding


_MEMBER_COLUMNS = ("email", "first_name", "last_name", "locale", "time_zone", "marketing_consent")
_PRODUCT_COLUMNS = ("product_name", "product_value_amplifier", "product_locale")


def _conflicts(rows: list[tuple[int, ImportRow]]) -> list[str]:
    """Lines that say different things about one thing: the same subscription twice, or one
    member or product with different details. Upserting them would keep whichever came last."""
    problems: list[str] = []
    first_line: dict[str, int] = {}
    seen: dict[tuple[str, str], tuple[int, ImportRow]] = {}
    for line, row in rows:
        sid = row.subscription_external_id
        if sid in first_line:
            problems.append(
                f"lines {first_line[sid]} and {line}: subscription {sid} is on both; a "
                "subscription is one line: keep the right one"
            )
        first_line.setdefault(sid, line)
        for kind, key, columns in (
            ("member", row.member_external_id, _MEMBER_COLUMNS),
            ("product", row.product_external_id, _PRODUCT_COLUMNS),
        ):
            earlier = seen.setdefault((kind, key), (line, row))
            if earlier[0] == line:
                continue
            for column in columns:
                before, now = _given(earlier[1], column), _given(row, column)
                if before is not None and now is not None and before != now:
                    problems.append(
                        f"lines {earlier[0]} and {line}: {kind} {key} has {column} {before!r} "
                        f"on one and {now!r} on the other; make them agree (or leave the cell "
                        "empty on all lines but one)"
                    )
    return problems


def _given(row: ImportRow, column: str):
    return getattr(row, column) if column in row.model_fields_set else None


_TRANSLATED = re.compile(r"^product_(name|value_amplifier)_([A-Za-z]{2,3}(?:[-_][A-Za-z]{2})?)$")


def _with_translations(values: dict[str, str]) -> dict:
    """Gathers the `product_name_<locale>` and `product_value_amplifier_<locale>` columns."""
    translations: dict[str, dict[str, str]] = {}
    for column in list(values):
        found = _TRANSLATED.match(column)
        if found:
            words = translations.setdefault(normalized(found.group(2)), {})
            words[found.group(1)] = values.pop(column)
    return {**values, "product_translations": translations} if translations else values


def _locales_given(row: ImportRow) -> list[tuple[str, str]]:
    given = [("locale", row.locale)] if "locale" in row.model_fields_set else []
    if row.product_locale:
        given.append(("product_locale", row.product_locale))
    given += [(f"product_name_{tag}", tag) for tag in row.product_translations or {}]
    return given


def _explain(issue: dict) -> str:
    column = ".".join(str(part) for part in issue["loc"]) or "row"
    message = issue["msg"].removeprefix("Value error, ")
    if issue["type"] == "missing":
        return f"{column}: is required but empty"
    return f"{column}: {message} (got {issue.get('input')!r})"


def import_csv(
    engine: Engine,
    path: Path,
    *,
    locales: tuple[str, ...] | None = None,
    dry_run: bool = False,
    show_progress: bool = False,
) -> ImportReport:
    """Validates every row first: if any is bad, nothing is written and each problem is named
    by line and column. Else every row is upserted in one transaction (rolled back in a dry
    run), and the report says what was created and changed, new products by name."""
    rows, problems, encoding = read_rows(path, locales)
    report = ImportReport(loaded=len(rows), problems=problems, encoding=encoding)
    if problems or not rows:
        return report
    progress = Progress(f"importing {path.name}", len(rows)) if show_progress else None
    with Session(engine) as session:
        for done, (_line, row) in enumerate(rows, start=1):
            upsert_row(session, row, report)
            if progress and (done % 100 == 0 or done == len(rows)):
                progress.update(done)
        if dry_run:
            session.rollback()
        else:
            session.commit()
            report.written = True
    return report


def _upsert(session: Session, model: type, external_id: str, report: ImportReport, **values):
    """Creates or updates one row. `values` holds only what the file says: an empty cell never
    overwrites what memberflow knows."""
    found = session.exec(select(model).where(model.external_id == external_id)).first()
    kind = model.__tablename__ + "s"
    if found is None:
        report.created[kind] = report.created.get(kind, 0) + 1
        instance = model(external_id=external_id, **values)
    else:
        instance = found
        if any(getattr(found, name) != value for name, value in values.items()):
            report.changed[kind] = report.changed.get(kind, 0) + 1
        for name, value in values.items():
            setattr(instance, name, value)
    session.add(instance)
    session.flush()
    return instance, found is None


def upsert_row(session: Session, row: ImportRow, report: ImportReport) -> Subscription:
    given = row.model_dump(exclude_unset=True)
    product_values = {"name": given["product_name"]} if "product_name" in given else {}
    if "product_value_amplifier" in given:
        product_values["value_amplifier"] = given["product_value_amplifier"]
    if "product_locale" in given:
        product_values["default_locale"] = given["product_locale"]
    if row.product_translations:
        product_values["translations"] = json.dumps(row.product_translations, sort_keys=True)
    found = session.exec(select(Product).where(Product.external_id == row.product_external_id))
    if found.first() is None:
        product_values.setdefault("name", row.product_external_id)
    product, created = _upsert(session, Product, row.product_external_id, report, **product_values)
    if created:
        report.new_products.append(f"{product.external_id} ({product.name})")
    member_fields = (
        "email",
        "first_name",
        "last_name",
        "locale",
        "time_zone",
        "billing_address",
        "shipping_address",
        "marketing_consent",
    )
    member, _ = _upsert(
        session,
        Member,
        row.member_external_id,
        report,
        **{name: given[name] for name in member_fields if name in given},
    )
    subscription_fields = (
        "status",
        "currency",
        "interval",
        "current_period_end",
        "trial_end",
        "card_last4",
        "canceled_at",
        "cancel_reason",
        "started_at",
    )
    values = {name: given[name] for name in subscription_fields if name in given}
    values["amount_minor"] = row.amount_minor
    if row.card_expiry:
        month, year = _card_expiry(row.card_expiry)
        values |= {
            "card_exp_month": month,
            "card_exp_year": year,
            "card_valid_until": card_valid_until(month, year),
        }
    subscription, _ = _upsert(
        session,
        Subscription,
        row.subscription_external_id,
        report,
        member_id=member.id,
        product_id=product.id,
        **values,
    )
    if row.canceled_at is not None:  # the history says where this cancellation came from
        _record_imported_cancellation(session, subscription, row)
    return subscription


def _record_imported_cancellation(session: Session, subscription: Subscription, row) -> None:
    """The file's cancellation as a fact of the subscription's history (the same file twice
    adds nothing). The file sets the current fields, as for every column it gives."""
    fact = lifecycle.Fact(
        lifecycle.CANCELED,
        row.canceled_at,
        f"import:{row.canceled_at.isoformat()}",
        row.cancel_reason,
    )
    lifecycle.record_and_settle(session.connection(), subscription.id, [fact], current=None)


def _card_expiry(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    month, _, year = value.partition("/")
    return int(month), int(year)
