"""Applies a `Change` to members, subscriptions and invoices: idempotent, and tolerant of
webhooks that arrive out of order. Each row remembers the provider's time of the newest event
applied to it (`provider_updated_at`); an older event changes nothing and announces nothing."""

from dataclasses import dataclass, fields
from datetime import MAXYEAR, MINYEAR, datetime
from functools import cache

from sqlalchemy import bindparam
from sqlmodel import Session, select, update

from memberflow.core import lifecycle
from memberflow.core.members import email_problem
from memberflow.core.models import (
    InboxStatus,
    Invoice,
    Member,
    Product,
    Subscription,
    SurveyResponse,
)
from memberflow.core.schedule import card_valid_until
from memberflow.ingress import changes as c
from memberflow.ingress.changes import Change

_REQUIRED_TO_CREATE = ("product_external_id", "amount_minor", "currency", "interval")
_REVIVED_BY = (c.SUBSCRIPTION_CREATED, c.SUBSCRIPTION_UPDATED, c.SUBSCRIPTION_RESUMED)


@dataclass
class Applied:
    status: InboxStatus
    event: str | None = None  # the memberflow event to announce, if any
    note: str | None = None
    member: Member | None = None
    subscription: Subscription | None = None
    invoice: Invoice | None = None


# a subscription's cancellation as its history settles it (memberflow.core.lifecycle)
_CANCELLATION_FIELDS = (
    "cancel_at_period_end",
    "canceled_at",
    "cancel_reason",
    "cancel_feedback",
    "cancel_comment",
)


class Unmatched(Exception):
    """The webhook names a row memberflow does not have and cannot create from it."""


def apply_change(session: Session, change: Change) -> Applied:
    try:
        return _apply(session, change)
    except Unmatched as why:
        return Applied(InboxStatus.unmatched, note=str(why))


def _apply(session: Session, change: Change) -> Applied:
    member = _member(session, change)
    applied = Applied(InboxStatus.applied, change.event, member=member)
    if change.subscription is not None:
        found = _find(session, Subscription, change.subscription.external_id)
        current = _cancellation_of(found)
        subscription, previous_status, stale = _subscription(session, member, change, found)
        applied.subscription = subscription
        revived = False
        if previous_status == "canceled" and subscription.status in ("active", "trialing"):
            if change.event in _REVIVED_BY and not stale:
                applied.event, revived = c.SUBSCRIPTION_REACTIVATED, True
        if not stale and change.subscription.cancel_at_period_end is not None:
            applied.event = _scheduled_cancel_event(subscription, change, applied.event)
            revived = revived or applied.event == c.SUBSCRIPTION_REACTIVATED
        # a late event changes no current field, but what it says joins the history
        _settle(session, subscription, change, current, revived)
        if stale and change.invoice is None:
            return _stale(applied, "the subscription already reflects a newer event")
    if change.invoice is not None:
        if applied.subscription is None:
            raise Unmatched("an invoice without a subscription")
        applied.invoice, stale = _invoice(session, applied.subscription, change)
        if stale:
            return _stale(applied, "the invoice already reflects a newer event")
        if change.details.get("settles_open_invoices"):
            _settle_open_invoices(session, applied.subscription, change.occurred_at)
    if change.card is not None:
        _card(session, member, applied.subscription, change.card)
    if change.answer is not None:
        _answer(session, member, applied.subscription, change)
    return applied


def _cancellation_of(found: Subscription | None) -> lifecycle.Cancellation | None:
    """The cancellation the subscription records before this event (for its history)."""
    if found is None or found.canceled_at is None:
        return None
    return lifecycle.Cancellation(
        found.canceled_at, found.cancel_reason, found.cancel_feedback, found.cancel_comment, 0
    )


def _settle(
    session: Session,
    subscription: Subscription,
    change: Change,
    current: lifecycle.Cancellation | None,
    revived: bool,
) -> None:
    """Records what the event says of the lifecycle, then sets the cancellation fields as the
    whole history settles them (memberflow.core.lifecycle): whatever order events came in."""
    data, source = change.subscription, f"{change.provider}:{change.event_id}"
    facts = []
    if data.status == "canceled" or data.cancel_at_period_end:
        when = data.canceled_at or change.occurred_at
        facts.append(
            lifecycle.Fact(
                lifecycle.CANCELED,
                when,
                source,
                data.cancel_reason,
                data.cancel_feedback,
                data.cancel_comment,
            )
        )
    if revived:
        facts.append(lifecycle.Fact(lifecycle.REACTIVATED, change.occurred_at, source))
    if not facts and current is None:
        return  # nothing about the lifecycle: no history to keep (most webhooks)
    settled = lifecycle.record_and_settle(
        session.connection(), subscription.id, facts, current=current
    )
    subscription.canceled_at = settled.canceled_at if settled else None
    subscription.cancel_reason = settled.reason if settled else None
    subscription.cancel_feedback = settled.feedback if settled else None
    subscription.cancel_comment = settled.comment if settled else None
    session.add(subscription)
    session.flush()


def _scheduled_cancel_event(subscription: Subscription, change: Change, event: str | None):
    """A cancellation at period end is a cancellation (the member is told now); taking it back
    before the end is a reactivation. Both arrive as plain subscription updates."""
    was_scheduled = subscription.cancel_at_period_end
    scheduled = bool(change.subscription.cancel_at_period_end)
    subscription.cancel_at_period_end = scheduled
    if scheduled and not was_scheduled and subscription.status != "canceled":
        return c.SUBSCRIPTION_CANCELED
    if was_scheduled and not scheduled and subscription.status != "canceled":
        return c.SUBSCRIPTION_REACTIVATED
    return event


def _answer(session: Session, member: Member, subscription: Subscription | None, change: Change):
    """One answer per key: a later one replaces it, as on memberflow's own survey page."""
    data = change.answer
    found = session.exec(select(SurveyResponse).where(SurveyResponse.key == data.key)).first()
    response = found or SurveyResponse(key=data.key, survey=data.survey, member_id=member.id)
    response.subscription_id = subscription.id if subscription else response.subscription_id
    response.answer, response.comment, response.source = data.answer, data.comment, data.source
    response.answered_at = change.occurred_at
    session.add(response)


def _stale(applied: Applied, why: str) -> Applied:
    applied.status, applied.event, applied.note = InboxStatus.stale, None, why
    return applied


def _newer(occurred_at: datetime, row, terminal: bool = False) -> bool:
    """Whether an event of `occurred_at` may overwrite `row`. On a tie (providers count in
    seconds) the later arrival wins, except that it never undoes a terminal state."""
    seen = row.provider_updated_at
    if seen is None or occurred_at > seen:
        return True
    return occurred_at == seen and not terminal


def _set(row, values: dict) -> None:
    for name, value in values.items():
        if value is not None:
            setattr(row, name, value)


@cache
def _by_external_id(model: type):
    # built once: constructing the statement per webhook cost more than running it
    return select(model).where(model.external_id == bindparam("external_id"))


def _find(session: Session, model: type, external_id: str):
    return session.exec(_by_external_id(model), params={"external_id": external_id}).first()


def _member(session: Session, change: Change) -> Member:
    data = change.member
    member = _find(session, Member, data.external_id)
    values = {"email": data.email, "first_name": data.first_name, "last_name": data.last_name}
    if member is None:
        if not data.email:
            raise Unmatched(
                f"no member {data.external_id!r} and the webhook carries no email to create one: "
                "import the member (or let the provider send the customer first), then run "
                "`memberflow ingress reapply`"
            )
        member = Member(external_id=data.external_id, email=data.email)
    if member.id is None or _newer(change.occurred_at, member):
        _set(member, values)
        member.provider_updated_at = change.occurred_at
        if data.email:  # the provider's word stands; messages wait until it is a real address
            member.email_problem = email_problem(data.email)
    session.add(member)
    session.flush()
    return member


def _subscription(
    session: Session, member: Member, change: Change, subscription: Subscription | None
) -> tuple[Subscription, str | None, bool]:
    """(the subscription, its status before this event, whether the event was stale), from
    the one found by the event's external id (None: new to memberflow)."""
    data = change.subscription
    if subscription is None:
        lacking = [name for name in _REQUIRED_TO_CREATE if getattr(data, name) is None]
        if lacking or data.current_period_end is None and data.trial_end is None:
            lacking = lacking or ["current_period_end"]
            raise Unmatched(
                f"subscription {data.external_id!r} is new to memberflow and the webhook lacks "
                f"{', '.join(lacking)} to create it: import it, then run "
                "`memberflow ingress reapply`"
            )
        subscription = Subscription(
            external_id=data.external_id,
            member_id=member.id,
            product_id=_product(session, data).id,
            status=data.status or "active",
            amount_minor=data.amount_minor,
            currency=data.currency,
            interval=data.interval,
            current_period_end=data.current_period_end or data.trial_end,
            created_at=change.occurred_at,
            started_at=data.started_at or change.occurred_at,
        )
    previous_status = subscription.status if subscription.id else None
    if subscription.id is not None and not _newer(
        change.occurred_at, subscription, terminal=subscription.status in c.ENDED
    ):
        return subscription, previous_status, True
    if previous_status in c.ENDED and data.cancel_at_period_end:
        # "cancels at the period's end" after the end itself is older news, whatever its time
        # says (MemberMouse dates its status changes on arrival): it never revives access
        return subscription, previous_status, True
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    # not set here: the cancellation's fields are what the whole history settles (`_settle`)
    for name in ("external_id", "product_external_id", "product_name", *_CANCELLATION_FIELDS):
        values.pop(name)
    if values.pop("unpaused"):
        values["pause_resumes_at"] = None
        subscription.pause_resumes_at = None
    if data.product_external_id:
        values["product_id"] = _product(session, data).id
    _set(subscription, values)
    subscription.provider_updated_at = change.occurred_at
    session.add(subscription)
    session.flush()
    return subscription, previous_status, False


def _product(session: Session, data: c.SubscriptionData) -> Product:
    product = _find(session, Product, data.product_external_id)
    if product is None:
        # the name is what ops see in messages: the provider's, else its id until they rename it
        product = Product(
            external_id=data.product_external_id,
            name=data.product_name or data.product_external_id,
        )
        session.add(product)
        session.flush()
    elif data.product_name and product.name == product.external_id:
        product.name = data.product_name  # named at last; a name ops gave is theirs to keep
        session.add(product)
    return product


def _invoice(session: Session, subscription: Subscription, change: Change) -> tuple[Invoice, bool]:
    data = change.invoice
    invoice = _find(session, Invoice, data.external_id)
    if invoice is None:
        invoice = Invoice(
            external_id=data.external_id,
            subscription_id=subscription.id,
            amount_minor=data.amount_minor
            if data.amount_minor is not None
            else subscription.amount_minor,
            currency=data.currency or subscription.currency,
        )
    elif not _newer(change.occurred_at, invoice, terminal=invoice.status != "open"):
        return invoice, True
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values.pop("external_id")
    if change.event == c.PAYMENT_FAILED and data.attempt_count is None:
        values["attempt_count"] = invoice.attempt_count + 1  # providers that do not count
    _set(invoice, values)
    invoice.provider_updated_at = change.occurred_at
    session.add(invoice)
    session.flush()
    return invoice, False


def _settle_open_invoices(session: Session, subscription: Subscription, paid_at: datetime) -> None:
    session.exec(
        update(Invoice)
        .where(Invoice.subscription_id == subscription.id, Invoice.status == "open")
        .values(status="paid", paid_at=paid_at, provider_updated_at=paid_at)
    )


def _card(session: Session, member: Member, subscription: Subscription | None, card: c.CardData):
    """The card on file: on the one subscription named, else on all of the member's."""
    if subscription is not None:
        targets = [subscription]
    else:
        targets = session.exec(
            select(Subscription).where(Subscription.member_id == member.id)
        ).all()
    # a month or year no calendar holds (a provider's bug, a fuzzer) is unknown, not a crash
    month = card.exp_month if card.exp_month and 1 <= card.exp_month <= 12 else None
    year = card.exp_year if card.exp_year and MINYEAR <= card.exp_year <= MAXYEAR else None
    valid_until = card_valid_until(month, year) if month and year else None
    for target in targets:
        target.card_last4 = card.last4
        target.card_exp_month, target.card_exp_year = month, year
        target.card_valid_until = valid_until
        session.add(target)
    session.flush()
