"""Outputs as Prefect Blocks. Built-ins are listed here; outside packages add theirs through
the `memberflow.outputs` entry point group (a class subclassing `blocks.base.Output`)."""

import inspect
import logging
from importlib.metadata import entry_points

from blocks.base import Output, load_block
from blocks.file import FileOutput
from blocks.script import ScriptOutput
from blocks.smtp import SmtpOutput
from blocks.webhook import WebhookOutput
from blocks.zapier import ZapierOutput

__all__ = [
    "FileOutput",
    "Output",
    "ScriptOutput",
    "SmtpOutput",
    "WebhookOutput",
    "ZapierOutput",
    "discover_outputs",
    "load_output",
]

ENTRY_POINT_GROUP = "memberflow.outputs"
log = logging.getLogger(__name__)


def discover_outputs() -> dict[str, type[Output]]:
    """Every output class by block type slug; a plugin that fails to load is logged and skipped."""
    found = {cls.get_block_type_slug(): cls for cls in _concrete_subclasses(Output)}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
            if not (isinstance(cls, type) and issubclass(cls, Output)):
                raise TypeError(f"{entry.value} is not a subclass of blocks.base.Output")
        except Exception as error:  # a broken plugin must not stop the built-in outputs
            log.warning("output plugin %r could not be loaded: %s", entry.name, error)
            continue
        found[cls.get_block_type_slug()] = cls
    return found


def _concrete_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub] if not inspect.isabstract(sub) else []
        found += _concrete_subclasses(sub)
    return found


def load_output(reference: str) -> Output:
    """A saved output Block by `block-type-slug/name`, e.g. `memberflow-smtp-output/production`."""
    discover_outputs()  # importing plugin classes lets Prefect resolve their block types
    return load_block(reference, Output, "an output")
