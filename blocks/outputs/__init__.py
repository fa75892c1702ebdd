"""Outputs: where rendered messages go. One module per output; each subclasses
`blocks.outputs.base.Output`. Outside packages add theirs through the `memberflow.outputs` entry
point group."""

from blocks.outputs.base import Output
from blocks.registry import discover, load_block

ENTRY_POINT_GROUP = "memberflow.outputs"


def discover_outputs() -> dict[str, type[Output]]:
    """Every output class by block type slug: this folder's, then the entry point group's."""
    import blocks.outputs as package

    return discover(package, Output, ENTRY_POINT_GROUP)


def load_output(reference: str) -> Output:
    """A saved output Block by `block-type-slug/name`, e.g. `memberflow-smtp-output/production`."""
    return load_block(reference, Output, "an output", discover_outputs())
