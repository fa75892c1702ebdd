"""How Blocks are found and loaded. A kind of Block (outputs, gateways) is a folder: each module
in it may define concrete subclasses of the kind's base class. Other packages add theirs through
an entry point group. No list of built-ins to keep up to date."""

import importlib
import inspect
import logging
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

from prefect.blocks.core import Block

DOCS = "https://github.com/memberflow/memberflow/blob/main/docs/extending.md"
log = logging.getLogger(__name__)


def discover(package: ModuleType, base: type[Block], group: str) -> dict[str, type[Block]]:
    """Every concrete `base` subclass defined in `package`'s modules, then those in the entry
    point `group`, by block type slug. A plugin that fails to load is logged and skipped: a
    broken plugin must not stop the built-ins."""
    found: dict[str, type[Block]] = {}
    for module in pkgutil.iter_modules(package.__path__):
        imported = importlib.import_module(f"{package.__name__}.{module.name}")
        for _, cls in inspect.getmembers(imported, inspect.isclass):
            if _is_concrete(cls, base) and cls.__module__ == imported.__name__:
                found[cls.get_block_type_slug()] = cls
    for entry in entry_points(group=group):
        try:
            cls = entry.load()
            if not (isinstance(cls, type) and _is_concrete(cls, base)):
                raise TypeError(f"{entry.value} is not a concrete subclass of {base.__name__}")
        except Exception as error:
            log.warning("%s plugin %r could not be loaded: %s", group, entry.name, error)
            continue
        found[cls.get_block_type_slug()] = cls
    return found


def _is_concrete(cls: type, base: type) -> bool:
    return issubclass(cls, base) and cls is not base and not inspect.isabstract(cls)


def load_block(
    reference: str, kind: type[Block], noun: str, known: dict[str, type[Block]]
) -> Block:
    """A saved Block by `block-type-slug/name`, refused unless it is a `kind` (an output, a
    gateway): a typo in a deployment's parameter fails the run with what was found instead.
    A type among `known` (what `discover` found) loads as itself: `Block.load` would first
    import every installed Prefect collection (Dask's alone: half a second of each run)."""
    slug, _, name = reference.partition("/")
    block = known[slug].load(name) if slug in known and name else Block.load(reference)
    if not isinstance(block, kind):
        raise TypeError(f"block {reference!r} is a {type(block).__name__}, not {noun}")
    return block
