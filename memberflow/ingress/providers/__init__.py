"""One file per webhook provider, each defining `PROVIDER` (a `memberflow.ingress.provider.
Provider`); outside packages add theirs through the `memberflow.providers` entry point group.
Discovery lives here, beside what it finds, so that `provider.py` (which every provider file
imports) never imports this package back."""

import importlib
import pkgutil
from importlib.metadata import entry_points

from memberflow.ingress.provider import Provider

ENTRY_POINT_GROUP = "memberflow.providers"


def discover_providers() -> dict[str, Provider]:
    """Every provider: the modules of `memberflow.ingress.providers` that define `PROVIDER`,
    then those other packages register in the `memberflow.providers` entry point group."""
    found: list[Provider] = []
    for module in pkgutil.iter_modules(__path__):
        imported = importlib.import_module(f"{__name__}.{module.name}")
        provider = getattr(imported, "PROVIDER", None)
        if isinstance(provider, Provider):
            found.append(provider)
    found += [entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)]
    by_name: dict[str, Provider] = {}
    for provider in found:
        if provider.name in by_name:
            raise ValueError(f"two webhook providers are named {provider.name!r}")
        by_name[provider.name] = provider
    return by_name
