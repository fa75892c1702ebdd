"""Imports go one way (pyproject.toml's import-linter contracts), every registered pipeline
and every deployment resolves."""

import ast
import importlib
import subprocess
import sys

import yaml

from memberflow.core.settings import PROJECT_ROOT
from memberflow.messaging import registry


def test_the_import_contracts_hold():
    """The rooms' one-way imports and the pipelines' independence (pyproject.toml)."""
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def references(registration: registry.Registration) -> list[str]:
    """Every `module:function` a registration names (import-linter cannot see strings)."""
    found = [registration.flow, *registration.commands.values(), *registration.routers]
    found += list(registration.provides.values())
    found += [registration.demo.day] if registration.demo else []
    return found + [r for r in (registration.report, registration.goal, registration.forecast) if r]


def test_every_registered_pipeline_resolves():
    """Each of a registration's string references imports and names something callable, in
    the pipeline's own package or its flow's module: never another pipeline's."""
    pipelines = registry.registered()
    assert {"reminders", "dunning", "cancellations", "surveys"} <= set(pipelines)
    for name, registration in pipelines.items():
        flow = registry.load(registration.flow)
        assert flow.__class__.__name__ == "Flow", registration.flow
        assert registration.messages() and registration.steps()
        for reference in references(registration):
            assert callable(registry.load(reference)), reference
            module = reference.partition(":")[0]
            own = module.startswith((f"memberflow.pipelines.{name}.", "flows."))
            assert own or not module.startswith("memberflow."), f"{name} names {reference}"


def test_every_deployment_entrypoint_imports_a_flow():
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        file, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.__class__.__name__ == "Flow", deployment["name"]
        assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)


def test_every_triggered_deployment_is_debounced_and_runs_one_at_a_time():
    """A burst of events is one run that reads the database, never a run per event, and a run
    that collides waits its turn: nothing is dropped (docs/scaling.md, "Event storms")."""
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    triggered = [d for d in config["deployments"] if d.get("triggers")]
    assert {d["name"] for d in triggered} >= {"on-payment-failed", "on-subscription-canceled"}
    for deployment in triggered:
        limit = deployment["concurrency_limit"]
        assert limit == {"limit": 1, "collision_strategy": "ENQUEUE"}, deployment["name"]
        for trigger in deployment["triggers"]:
            assert (trigger["posture"], trigger["threshold"]) == ("Reactive", 1)
            assert trigger["within"] == trigger["schedule_after"] <= 120, deployment["name"]
            assert set(trigger["parameters"]) == {"event"}, deployment["name"]


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support; a test module never imports from another one."""
    tests = PROJECT_ROOT / "tests"
    offenders = []
    for path in tests.rglob("*.py"):
        if "support" in path.relative_to(tests).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.") and not name.startswith("tests.support"):
                    offenders.append(f"{path.relative_to(tests)} imports {name}")
    assert offenders == []


# the tables each pipeline keeps (still declared in memberflow/core/, issue 27)
OWN_TABLES = {
    "dunning": {"DunningCase", "ChargeAttempt"},
    "cancellations": {"Cancellation"},
    "surveys": {"SurveyResponse"},
    "cancel_moment": {"CancelVisit"},
}
MODELS = ("memberflow.core.models", "memberflow.core.dunning_models")


def test_no_pipeline_reads_another_pipelines_tables():
    """A pipeline asks another's facts through its `provides`; it never imports its models."""
    offenders = []
    for package in (PROJECT_ROOT / "memberflow" / "pipelines").iterdir():
        if not (package / "__init__.py").exists():
            continue
        others = set().union(*(t for name, t in OWN_TABLES.items() if name != package.name))
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module in MODELS:
                    used = {alias.name for alias in node.names} & others
                    offenders += [f"{path.relative_to(PROJECT_ROOT)} imports {n}" for n in used]
    assert offenders == []
