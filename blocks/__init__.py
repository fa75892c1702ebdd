"""memberflow's Prefect Blocks: outputs (`outputs/`) and payment gateways (`gateways/`).

Importing this package binds every discovered Block class as an attribute, so that
`prefect block register -m blocks` registers them all, plugins included."""

from blocks.gateways import discover_gateways
from blocks.outputs import discover_outputs

__all__ = ["discover_gateways", "discover_outputs"]


def _expose_every_block() -> None:
    for cls in [*discover_outputs().values(), *discover_gateways().values()]:
        globals()[cls.__name__] = cls


_expose_every_block()
