"""`memberflow experiments start | list | stop | results`: variants and a holdout on one step."""

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from memberflow.analytics.experiments import results as experiment_results
from memberflow.analytics.period import Period
from memberflow.cli._common import engine, fail, parse_moment, print_table
from memberflow.core.settings import get_settings
from memberflow.messaging import experiments, registry
from memberflow.messaging.rendering import Renderer

experiments_app = typer.Typer(
    rich_markup_mode=None,
    help="Test a step's message: variants, and a holdout that gets none (docs/operations.md).",
    no_args_is_help=True,
)


@experiments_app.command("start")
def start(
    definition: Annotated[Path, typer.Argument(help="The experiment, as a .json or .toml file.")],
) -> None:
    """Start assigning members of the step to the variants and the holdout from the next run."""
    plan = read_plan(definition)
    template, fields = _step_template(plan, definition)
    if not template and plan.variants:  # a step that shows something but sends no message
        fail(f"{definition}: {plan.pipeline}/{plan.step} sends no message: test it with a holdout")
    settings = get_settings()
    renderer = Renderer(registry.template_folders(settings), settings.default_locale)
    found = experiments.problems(plan, template, renderer, fields)
    if found:
        fail(f"{definition}: " + "; ".join(found))
    try:
        with engine().begin() as conn:
            experiments.start(conn, plan, datetime.now(UTC))
    except ValueError as error:
        fail(str(error))
    print(f"experiment {plan.name} started on {plan.pipeline}/{plan.step}")


@experiments_app.command("list")
def listing() -> None:
    """Every experiment, running or stopped, with its shares."""
    with engine().connect() as conn:
        print_table(experiments.listed(conn))


@experiments_app.command("stop")
def stop(name: str) -> None:
    """Stop assigning: from the next run everyone gets the usual message again."""
    with engine().begin() as conn:
        if not experiments.stop(conn, name, datetime.now(UTC)):
            fail(f"no running experiment is called {name!r} (see memberflow experiments list)")
    print(f"experiment {name} stopped; its results stay (memberflow experiments results {name})")


@experiments_app.command("results")
def results(
    name: str,
    end: Annotated[str | None, typer.Option("--to", help="ISO time; default: now.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Per variant: messages, how many reached the goal, the rate with its 95% interval, and
    the difference against the holdout, saying plainly when it is not significant yet."""
    until = parse_moment(end, "--to") or datetime.now(UTC)
    with engine().connect() as conn:
        rows = experiment_results(conn, Period(datetime(1970, 1, 1, tzinfo=UTC), until), name)
    if not rows:
        fail(f"no experiment is called {name!r} (see memberflow experiments list)")
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    shown = ("variant", "goal", "messages", "reached", "rate", "verdict")
    print_table([{k: _shown(row[k]) for k in shown} for row in rows])


def _shown(value):
    return f"{value:.1%}" if isinstance(value, float) else value


def read_plan(path: Path) -> experiments.ExperimentPlan:
    """An experiment from a .json or .toml file; a clear error naming the file otherwise."""
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return experiments.ExperimentPlan.model_validate(data)
    except OSError as error:
        fail(f"{path}: {error.strerror}")
    except (ValueError, tomllib.TOMLDecodeError) as error:
        if isinstance(error, ValidationError):
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'the experiment'}: {e['msg']}"
                for e in error.errors()
            )
            fail(f"{path}: {where}")
        fail(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {error}")


def _step_template(plan: experiments.ExperimentPlan, path: Path) -> tuple[str, dict]:
    """The step's own template and its sample fields; a clear error for an unknown one."""
    settings = get_settings()
    for registration in registry.registered().values():
        if plan.pipeline in {p.name for p in registration.messages()}:
            steps = {info.name: info.template for info in registration.steps()}
            if plan.step not in steps:
                known = ", ".join(steps)
                fail(f"{path}: {plan.pipeline} has no step {plan.step!r} (its steps: {known})")
            samples = registry.sample_fields(settings)
            return steps[plan.step], samples.get(steps[plan.step], {})
    known = ", ".join(p.name for r in registry.registered().values() for p in r.messages())
    fail(f"{path}: no pipeline sends {plan.pipeline!r} messages (known: {known})")
