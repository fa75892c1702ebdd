"""Experiments' results: per variant, the messages, how many reached the pipeline's goal
(renewed, recovered, came back, answered: its `Registration.goal`), the rate with its 95%
interval, and the difference against the holdout (or, without one, the usual message)."""

from sqlalchemy import Connection, and_, func, select

from memberflow.analytics.period import Period
from memberflow.analytics.stats import difference, wilson
from memberflow.core.models import Subscription, Touchpoint
from memberflow.messaging import registry
from memberflow.messaging.experiments import (
    CONTROL,
    HOLDOUT,
    ExperimentPlan,
    experiment_table,
    share_text,
    shares_of,
)
from memberflow.messaging.registry import load

touchpoint, subscription = Touchpoint.__table__, Subscription.__table__


def results(conn: Connection, period: Period, name: str | None = None) -> list[dict]:
    """Every experiment that ran during `period` (or the one called `name`), counted over all
    its messages about a date before the period's end: judged on its whole sample so far."""
    query = select(experiment_table).order_by(experiment_table.c.started_at)
    if name is not None:
        query = query.where(experiment_table.c.name == name)
    else:
        query = query.where(
            experiment_table.c.started_at < period.end,
            (experiment_table.c.stopped_at.is_(None))
            | (experiment_table.c.stopped_at >= period.start),
        )
    rows = []
    for found in conn.execute(query).all():
        plan = ExperimentPlan.model_validate_json(found.definition)
        rows += _variants(conn, plan, period)
    return rows


def goal_of(pipeline: str, dialect: str):
    """The goal (label, SQL condition) of the registered pipeline that sends `pipeline`'s
    messages, or None when it declares none."""
    for registration in registry.registered().values():
        if registration.goal and pipeline in {p.name for p in registration.messages()}:
            return load(registration.goal)(dialect)
    return None


def _variants(conn: Connection, plan: ExperimentPlan, period: Period) -> list[dict]:
    goal = goal_of(plan.pipeline, conn.dialect.name)
    label = goal[0] if goal else "goal"
    # a message counts once what it was about has come (a renewal not due yet cannot have
    # renewed): its anchor, the date it counts from, is before the period's end
    mine = and_(touchpoint.c.experiment == plan.name, touchpoint.c.anchor_at < period.end)
    per_variant = select(touchpoint.c.variant, func.count()).where(mine)
    totals = dict(conn.execute(per_variant.group_by(touchpoint.c.variant)).all())
    reached: dict[str, int] = {}
    if goal is not None:  # in WHERE, not a CASE: PostgreSQL then anti-joins a NOT EXISTS
        joined = touchpoint.join(subscription, subscription.c.id == touchpoint.c.subscription_id)
        query = per_variant.select_from(joined).where(goal[1]).group_by(touchpoint.c.variant)
        reached = dict(conn.execute(query).all())
    counts = {name: (count, reached.get(name, 0)) for name, count in totals.items()}
    base_name = HOLDOUT if plan.holdout else CONTROL
    base = counts.get(base_name, (0, 0))
    names = [HOLDOUT] * bool(plan.holdout) + [v.name for v in plan.variants]
    names += [CONTROL] * (plan.control_share > 1e-9)
    shares = shares_of(plan)
    rows = []
    for variant in names:
        messages, reached_count = counts.get(variant, (0, 0))
        low, high = wilson(reached_count, messages)
        row = {
            "experiment": plan.name,
            "step": f"{plan.pipeline}/{plan.step}",
            "variant": variant,
            "share": share_text(shares[variant]),
            "goal": label,
            "messages": messages,
            "reached": reached_count,
            "rate": reached_count / messages if messages else None,
            "rate_low": low if messages else None,
            "rate_high": high if messages else None,
            "vs": "" if variant == base_name else base_name,
            "difference": None,
            "difference_low": None,
            "difference_high": None,
            "verdict": "the comparison" if variant == base_name else "",
        }
        if variant != base_name:
            row.update(_against(messages, reached_count, base, base_name, label))
        rows.append(row)
    return rows


def _against(messages: int, reached: int, base: tuple[int, int], base_name: str, label: str):
    if not messages or not base[0]:
        return {"verdict": f"no data yet ({messages} messages, {base[0]} in {base_name})"}
    gap, low, high = difference(reached, messages, base[1], base[0])
    spread = f"{low * 100:+.1f} to {high * 100:+.1f} pts"
    if low > 0 or high < 0:
        better = "more" if low > 0 else "fewer"
        verdict = f"significant: {gap * 100:+.1f} pts {label} ({better} than {base_name})"
    else:
        verdict = (
            f"not significant yet: the difference could be anywhere from {spread} "
            f"with {messages} and {base[0]} messages"
        )
    return {"difference": gap, "difference_low": low, "difference_high": high, "verdict": verdict}
