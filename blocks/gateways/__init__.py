"""Payment gateways: retry a failed invoice's charge. One module per gateway; each subclasses
`blocks.gateways.base.PaymentGateway`. Outside packages add theirs through the
`memberflow.gateways` entry point group."""

from blocks.gateways.base import PaymentGateway
from blocks.registry import discover, load_block

ENTRY_POINT_GROUP = "memberflow.gateways"


def discover_gateways() -> dict[str, type[PaymentGateway]]:
    """Every gateway class by block type slug: this folder's, then the entry point group's."""
    import blocks.gateways as package

    return discover(package, PaymentGateway, ENTRY_POINT_GROUP)


def load_gateway(reference: str) -> PaymentGateway:
    """A saved gateway Block by `block-type-slug/name`, e.g. `memberflow-stripe-gateway/live`."""
    return load_block(reference, PaymentGateway, "a payment gateway", discover_gateways())
