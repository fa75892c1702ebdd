"""Composing: whether a claimed touchpoint may still be sent, and the message it stands for
(the member's language, the merge fields with their signed links, the experiment's variant)."""

from dataclasses import replace
from datetime import datetime
from functools import cache

from memberflow.core.locales import product_words
from memberflow.core.models import TouchpointStatus as Status
from memberflow.core.schedule import Timing, timing
from memberflow.core.settings import Settings
from memberflow.messaging.cap import HELD_BY_CAP
from memberflow.messaging.consent import consent_reason, kind_of
from memberflow.messaging.experiments import Assignment
from memberflow.messaging.messages import Message
from memberflow.messaging.protocols import LinkMaker, Pipeline, SignsLinks, Step, TouchpointRow
from memberflow.messaging.rendering import Renderer, business_fields


def decide(
    pipeline: Pipeline, step: Step | None, row: TouchpointRow, as_of: datetime
) -> tuple[Status, str] | None:
    """None to send now, else the status to record and why. Conditions are checked at send time."""
    if step is None:
        return Status.skipped, f"step {row.step!r} is no longer configured for this product"
    reason = pipeline.skip_reason(step, row) or consent_reason(kind_of(step), row)
    if reason is not None:
        return Status.skipped, reason
    if timing(row.due_at, as_of, step.lateness) is Timing.expired:
        late = f"more than {step.lateness} late at {as_of.isoformat()}"
        if (row.last_error or "").startswith(HELD_BY_CAP):  # the cap kept it until too late
            return Status.held, f"{HELD_BY_CAP} until it was {late}"
        return Status.expired, late
    return None


def message_fields(
    pipeline: Pipeline, step: Step, row: TouchpointRow, settings: Settings, link: LinkMaker
) -> dict:
    """The business's fields, the pipeline's (with its signed links, if it has any), and the
    member's unsubscribe link on what they may refuse."""
    fields = {**business_fields(settings), **pipeline.fields(step, row, settings)}
    if _signs_links(type(pipeline)):
        fields |= pipeline.signed_fields(step, row, link)
    if kind_of(step).unsubscribable:
        fields["unsubscribe_url"] = link(row.member_external_id, "unsubscribe")
    if getattr(pipeline, "carries_manage_link", False) and row.sub_external_id:
        # the member's "manage or cancel" page for this subscription (the cancel-moment's)
        fields["manage_url"] = link(row.member_external_id, MANAGE, {"s": row.sub_external_id})
    return fields


MANAGE = "manage"  # the link purpose of the cancel page


@cache
def _signs_links(pipeline_type: type) -> bool:
    # once per type: checking a runtime Protocol walks its attributes (about 30 us a message)
    return issubclass(pipeline_type, SignsLinks)


def in_members_language(
    step: Step, row: TouchpointRow, renderer: Renderer, template: str | None = None
) -> tuple[TouchpointRow, list[str]]:
    """The row as the message will be written: `locale` is the language chosen by the fallback
    chain, and the product's name and value amplifier are in it. With what the run should warn
    about (the member gets another language, or the product has no words in theirs)."""
    template = template or step.template_name
    choice = renderer.language(template, row.locale, row.product_locale)
    name, amplifier = product_words(
        choice.locale,
        asked=choice.asked,
        name=row.product_name,
        value_amplifier=row.value_amplifier,
        written_in=row.product_locale or renderer.default_locale,
        translations=row.product_translations,
    )
    notes = []
    if choice.fell_back:
        notes.append(f"{template} has no {choice.asked!r}: written in {choice.locale!r}")
    if row.value_amplifier and amplifier is None:
        notes.append(
            f"product {row.product_external_id!r} has no {choice.locale!r} value amplifier: "
            "left out (add a translation)"
        )
    if (choice.locale, name, amplifier) == (row.locale, row.product_name, row.value_amplifier):
        return row, notes  # as most are: no copy
    localized = replace(row, locale=choice.locale, product_name=name, value_amplifier=amplifier)
    return localized, notes


def compose(
    pipeline: Pipeline,
    step: Step,
    row: TouchpointRow,
    fields: dict,
    renderer: Renderer,
    assigned: Assignment | None = None,
) -> Message:
    """Renders the message a touchpoint stands for from its merge fields (the row as
    `in_members_language` gives it), as its experiment's variant words it if it is in one."""
    variant = assigned.variant if assigned else None
    template = (variant and variant.template) or step.template_name
    subjects = variant.subjects if variant else None
    rendered = renderer.render(template, row.locale, fields, subjects)
    to_email, to_name = pipeline.recipient(row, fields)
    return Message(
        key=row.key,
        pipeline=pipeline.name,
        step=row.step,
        to_email=to_email,
        to_name=to_name,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        fields=fields,
        unsubscribe_url=fields.get("unsubscribe_url"),
        locale=row.locale,
    )
