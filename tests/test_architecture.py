"""Imports go one way (flows -> tasks -> blocks and core), and every deployment resolves."""

import ast
import importlib
from pathlib import Path

import yaml

from memberflow.core.settings import PROJECT_ROOT

LAYERS = {"memberflow": 0, "blocks": 1, "tasks": 2, "flows": 3}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_only_point_down():
    wrong = []
    for package, layer in LAYERS.items():
        for path in (PROJECT_ROOT / package).glob("**/*.py"):
            if path.name == "cli.py":
                continue  # the shell over everything; it imports flows lazily
            for name in imported_packages(path):
                if LAYERS.get(name, -1) > layer:
                    wrong.append(f"{path.relative_to(PROJECT_ROOT)} imports {name}")
    assert wrong == []


def test_the_core_does_not_import_prefect():
    # cli.py is the shell over everything: it may ask Prefect for its API URL, lazily
    users = [
        path.name
        for path in (PROJECT_ROOT / "memberflow").glob("**/*.py")
        if path.name != "cli.py" and "prefect" in imported_packages(path)
    ]
    assert users == []


def test_every_deployment_entrypoint_imports_a_flow():
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    assert config["deployments"]
    for deployment in config["deployments"]:
        file, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.__class__.__name__ == "Flow", deployment["name"]
        assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)
