"""Experiments: one step's message in variants (another template, subject or offer) beside a
holdout that gets no message, so the report can say whether the message changed anything.

A member's variant comes from a hash of the experiment's name and the member's id: the same on
every run, rerun and machine, with nothing to store before the send. The engine records it on
the touchpoint with the outcome; the report counts each variant's goal (`Registration.goal`).
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection, select, update

from memberflow.core.models import Experiment, TouchpointStatus
from memberflow.messaging.store import Outcome

HOLDOUT = "holdout"  # members who get no message
CONTROL = "control"  # members who get the step's usual message
RESERVED = (HOLDOUT, CONTROL)
experiment_table = Experiment.__table__


class Variant(BaseModel):
    """One version of the message, and the share of members who get it."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    share: float = Field(gt=0, le=1, description="Share of the step's members: 0.45 is 45%.")
    template: str | None = Field(
        None,
        description="Another template folder, named after the step's own with a suffix "
        "(reminders/renewal.short), so `templates lint` checks it with the step's fields.",
    )
    subjects: dict[str, str] = Field(
        default_factory=dict,
        description="Another subject line per language, Jinja with the template's fields: "
        "{'en': 'See you on {{ due_date }}', 'fr': ...}. Every language the template has.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Laid over what the pipeline planned: cancellations read `offer` here "
        "({'code': 'HALF', 'description': 'half price for 3 months', 'valid_days': 30}).",
    )


class ExperimentPlan(BaseModel):
    """An experiment as ops write it (a JSON or TOML file for `memberflow experiments start`)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    pipeline: str
    step: str = Field(description="The step under test, by its name: 'renewal_7d', 'winback'.")
    products: list[str] = Field(
        default_factory=list, description="Product external ids it applies to; empty: all."
    )
    holdout: float = Field(0.0, ge=0, lt=1, description="Share who get no message: 0.05.")
    variants: list[Variant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shares_add_up(self) -> "ExperimentPlan":
        names = [variant.name for variant in self.variants]
        if any(name in RESERVED for name in names):
            raise ValueError(f"variant names {', '.join(RESERVED)} are reserved: choose another")
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must differ: {', '.join(names)}")
        total = self.holdout + sum(variant.share for variant in self.variants)
        if total > 1 + 1e-9:
            raise ValueError(
                f"the holdout and the variants' shares add up to {total:.0%}: at most 100% "
                f"(what is left over gets the usual message, as `{CONTROL}`)"
            )
        if not self.variants and not self.holdout:
            raise ValueError("an experiment needs a holdout share, variants, or both")
        return self

    @property
    def control_share(self) -> float:
        return max(0.0, 1 - self.holdout - sum(variant.share for variant in self.variants))

    def applies_to(self, pipeline: str, step: str, product: str) -> bool:
        return (
            self.pipeline == pipeline
            and self.step == step
            and (not self.products or product in self.products)
        )

    def assign(self, member: str) -> str:
        """`member`'s variant: `holdout`, a variant's name, or `control`. Stable: a hash."""
        point = position(self.name, member)
        edge = self.holdout
        if point < edge:
            return HOLDOUT
        for variant in self.variants:
            edge += variant.share
            if point < edge:
                return variant.name
        return CONTROL

    def variant(self, name: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)


def position(experiment: str, member: str) -> float:
    """Where a member falls in [0, 1) for an experiment: uniform, and independent between
    experiments (the name is hashed with the member), so one test does not shape another."""
    digest = hashlib.sha256(f"{experiment}\0{member}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Assignment:
    """What a touchpoint gets in an experiment: its variant's name and, for a variant, how its
    message differs."""

    experiment: str
    name: str
    variant: Variant | None = None

    @property
    def held_out(self) -> bool:
        return self.name == HOLDOUT


def assignment(
    plans: Sequence[ExperimentPlan], pipeline: str, step: str, product: str, member: str
) -> Assignment | None:
    """The first running experiment on this step and product, and the member's place in it."""
    for plan in plans:
        if plan.applies_to(pipeline, step, product):
            name = plan.assign(member)
            return Assignment(plan.name, name, plan.variant(name))
    return None


def hold_out(
    conn: Connection,
    pipeline: str,
    sendable: list[tuple[Any, Any]],
    assigned: dict[int, Assignment],
    record: Callable,
) -> list[tuple[Any, Any]]:
    """Places each message in its step's running experiment (filling `assigned`) and records
    the holdout's as skipped: they are the comparison, so they get nothing. Only messages that
    would be sent take part, so the holdout is like the rest."""
    plans = running(conn, pipeline) if sendable else []
    if not plans:
        return sendable
    kept = []
    for step, row in sendable:
        place = assignment(
            plans, pipeline, row.step, row.product_external_id, row.member_external_id
        )
        if place is None:
            kept.append((step, row))
            continue
        assigned[row.touchpoint_id] = place
        if place.held_out:
            why = f"held out by experiment {place.experiment!r}: no message, for comparison"
            record(row, Outcome(TouchpointStatus.skipped, row.attempts, error=why), "held_out")
        else:
            kept.append((step, row))
    return kept


def held_out(conn: Connection, pipeline: str, step: str, product: str, member: str) -> bool:
    """Whether a running experiment on a step that sends no message (a page's offer) holds
    this member out of it: the holdout its result is compared with."""
    place = assignment(running(conn, pipeline), pipeline, step, product, member)
    return place is not None and place.held_out


# -- kept in the database ------------------------------------------------------------------------


def running(conn: Connection, pipeline: str | None = None) -> list[ExperimentPlan]:
    """The experiments not stopped, oldest first (the first on a step wins)."""
    query = (
        select(experiment_table.c.definition)
        .where(experiment_table.c.stopped_at.is_(None))
        .order_by(experiment_table.c.started_at, experiment_table.c.name)
    )
    if pipeline is not None:
        query = query.where(experiment_table.c.pipeline == pipeline)
    return [ExperimentPlan.model_validate_json(row.definition) for row in conn.execute(query)]


def start(conn: Connection, plan: ExperimentPlan, now: datetime) -> None:
    """Records a new experiment; a name is never reused (its touchpoints keep it)."""
    known = conn.execute(
        select(experiment_table.c.name).where(experiment_table.c.name == plan.name)
    ).first()
    if known is not None:
        raise ValueError(f"an experiment called {plan.name!r} exists: give this one another name")
    for other in running(conn, plan.pipeline):
        if other.step == plan.step and (
            not other.products or not plan.products or set(other.products) & set(plan.products)
        ):
            raise ValueError(
                f"experiment {other.name!r} already tests {plan.pipeline}/{plan.step} for "
                "these products: stop it first (memberflow experiments stop)"
            )
    conn.execute(
        experiment_table.insert().values(
            name=plan.name,
            pipeline=plan.pipeline,
            step=plan.step,
            definition=json.dumps(plan.model_dump(mode="json")),
            started_at=now,
        )
    )


def stop(conn: Connection, name: str, now: datetime) -> bool:
    """Stops assigning members (their touchpoints keep the variant they got); False if no
    running experiment has that name."""
    stopped = conn.execute(
        update(experiment_table)
        .where(experiment_table.c.name == name, experiment_table.c.stopped_at.is_(None))
        .values(stopped_at=now)
    )
    return stopped.rowcount == 1


def shares_of(plan: ExperimentPlan) -> dict[str, float]:
    """Each variant's configured share, the holdout and `control` (what is left) included."""
    return {
        HOLDOUT: plan.holdout,
        **{variant.name: variant.share for variant in plan.variants},
        CONTROL: plan.control_share,
    }


def share_text(fraction: float) -> str:
    """A share as configured: 47.5%, not 48% (three shares must still add up to 100%)."""
    return f"{round(fraction * 100, 2):g}%"


def listed(conn: Connection) -> list[dict]:
    """Every experiment, running or stopped, for `memberflow experiments list` and the report."""
    rows = conn.execute(select(experiment_table).order_by(experiment_table.c.started_at))
    found = []
    for row in rows:
        plan = ExperimentPlan.model_validate_json(row.definition)
        shares = shares_of(plan)
        found.append(
            {
                "name": row.name,
                "step": f"{row.pipeline}/{row.step}",
                "products": ", ".join(plan.products) or "all",
                "shares": ", ".join(f"{k} {share_text(v)}" for k, v in shares.items() if v > 0),
                "started_at": row.started_at,
                "stopped_at": row.stopped_at,
            }
        )
    return found


def problems(plan: ExperimentPlan, template: str, renderer: Any, fields: dict) -> list[str]:
    """What is wrong with `plan` for a step whose own template is `template`: each variant's
    template must be a variant of it (`<template>.<suffix>`) in every language the step is
    written in, its subjects must cover those languages, and everything must render."""
    found = []
    languages = renderer.locales(template)
    for variant in plan.variants:
        name = variant.template or template
        if variant.template:
            if not variant.template.startswith(f"{template}."):
                found.append(
                    f"variant {variant.name!r}: template {variant.template!r} must be named "
                    f"{template}.<suffix> (a copy of the step's folder, changed)"
                )
                continue
            missing = sorted(set(languages) - set(renderer.locales(name)))
            if missing:
                found.append(
                    f"variant {variant.name!r}: {name} has no {', '.join(missing)} "
                    f"(the step is written in {', '.join(languages)}): add them"
                )
        if variant.subjects:
            missing = sorted(set(languages) - set(variant.subjects))
            if missing:
                found.append(
                    f"variant {variant.name!r}: subjects lack {', '.join(missing)} "
                    "(every language the step is written in, or members would get the usual one)"
                )
        for locale in renderer.locales(name):
            try:
                renderer.render(name, locale, fields, variant.subjects or None)
            except Exception as error:  # a TemplateProblem, named with its file and line
                found.append(f"variant {variant.name!r} in {locale!r}: {error}")
    return found
