"""`memberflow run <pipeline>` and `memberflow pipelines`: every registered pipeline, by name."""

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from memberflow.cli._common import fail, load, parse_moment, print_table
from memberflow.core import clock
from memberflow.core.db import require_existing
from memberflow.core.settings import get_settings
from memberflow.messaging import registry

run_app = typer.Typer(rich_markup_mode=None, help="Run one pipeline's flow once, here and now.")

# Exit codes of `memberflow run` (docs/operations.md): 0 all went well; 1 a mistake in the
# command (unknown pipeline or parameter); 2 the run completed but some messages failed (a bad
# address, a template error: each is retried by later runs); 3 the run failed (the output or
# the database was down: nothing more was tried, the rest waits for the next run).
SOME_FAILED, RUN_FAILED = 2, 3


@run_app.command("run")
def run(
    pipeline: Annotated[str, typer.Argument(help="A registered pipeline (memberflow pipelines).")],
    as_of: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-12-01T09:00:00Z.")] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            help="A simulation: act for any moment, on a database kept for simulations "
            '(never one with real runs; docs/architecture.md, "Time travel").'
        ),
    ] = False,
    output: Annotated[str, typer.Option(help="Saved output Block, type-slug/name.")] = "",
    dry_run: Annotated[
        bool, typer.Option(help="Render and report; send and record nothing (if supported).")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = 500,
    param: Annotated[
        list[str] | None,
        typer.Option(help="Any other flow parameter as name=value (JSON values); repeatable."),
    ] = None,
) -> None:
    """One run of a pipeline's flow for a moment (default: now); prints its summary."""
    moment = parse_moment(as_of)
    require_existing(get_settings().database_url)  # at once, not after Prefect has started
    if moment is not None and not (simulate or dry_run):
        try:  # at once, before Prefect starts (the flow judges the database too)
            clock.judge(moment, now=datetime.now(UTC), simulate=False, role=None)
        except clock.MomentRefused as refused:
            fail(f"memberflow run: {refused}")
    try:
        flow = load(registry.get(pipeline).flow)
    except LookupError as error:
        fail(str(error))
    accepted = set(flow.parameters.properties)
    parameters = {"as_of": moment, "output": output, "batch_size": batch_size}
    if dry_run:
        parameters["dry_run"] = True
    elif "simulate" in accepted:  # what the operator said, not what the database is
        parameters["simulate"] = simulate
    parameters |= dict(_parameter(text) for text in param or ())
    unknown = sorted(set(parameters) - accepted)
    if unknown:
        fail(f"the {pipeline} flow takes no {', '.join(unknown)}; it takes {', '.join(accepted)}")
    os.environ.setdefault("MEMBERFLOW_TERMINAL_PROGRESS", "1")  # a bar while it delivers
    try:
        summary = flow(**parameters)
    except clock.MomentRefused as refused:  # this database may not act for that moment
        fail(f"memberflow run: {refused}")
    except Exception as error:  # the run failed: the output is down, the database unreachable
        gone = _api_unreachable(error)
        why = _api_gone(error) if gone else str(error)
        typer.secho(f"the {pipeline} run failed: {why}", fg=typer.colors.RED, err=True)
        if gone:  # Prefect's exit would try each unsent event for 7 s: a minute for nothing
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(RUN_FAILED)
        raise typer.Exit(RUN_FAILED) from None
    if isinstance(summary, dict):
        summary = [{"measure": name, "value": value} for name, value in summary.items()]
    print_table(summary)
    total = summary[-1] if summary else {}
    failed, dead = total.get("failed", 0), total.get("dead", 0)
    if dead:
        typer.secho(
            f"{dead} message(s) dead: the receiver refused them for good, or their tries ran "
            "out; the run's warnings say why (memberflow touchpoints --status dead). Fix it, "
            "then: memberflow requeue KEY...",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if failed:
        typer.secho(
            f"{failed} message(s) failed: later runs try them again; the run's warnings say "
            "why (memberflow touchpoints --status failed)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if failed or dead:
        raise typer.Exit(SOME_FAILED)


def _api_unreachable(error: Exception) -> bool:
    import httpx

    return isinstance(error, httpx.TransportError) or "Failed to reach API" in str(error)


def _api_gone(error: Exception) -> str:
    """What happened and what to do, when the Prefect API stopped answering (the client's own
    words name neither the server nor what became of the run)."""
    from prefect.settings import PREFECT_API_URL

    lease = get_settings().claim_lease_seconds
    return (
        f"the Prefect API at {PREFECT_API_URL.value()} does not answer ({error}). Nothing is "
        f"lost: the messages this run held go back to the next run {lease:.0f} s after its "
        "last renewal. Start the server (`memberflow server start`), or unset PREFECT_API_URL "
        "to run on a temporary local one, then run again"
    )


def _parameter(text: str) -> tuple[str, object]:
    name, equals, value = text.partition("=")
    if not equals:
        fail(f"--param {text!r} is not name=value")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value  # a bare string


def pipelines() -> None:
    """The registered pipelines and their steps: when each goes out, to whom, which template."""
    for registration in registry.registered().values():
        print(f"{registration.name}: {registration.summary}")
        print(f"  flow: {registration.flow}")
        rows = [
            {"step": s.name, "when": s.when, "to": s.audience, "template": s.template}
            for s in registration.steps()
        ]
        print_table(rows)
        print()
