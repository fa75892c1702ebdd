"""The Blocks a run uses, by the reference ops give (`type-slug/name`), or the embedded
defaults when they give none."""

from blocks.gateways import PaymentGateway, load_gateway
from blocks.gateways.sandbox import SandboxGateway
from blocks.outputs import load_output
from blocks.outputs.base import Output
from blocks.outputs.file import FileOutput
from memberflow.core.settings import Settings


def resolve_output(reference: str, settings: Settings) -> Output:
    """A saved output Block (`type-slug/name`), or the embedded default: .eml files."""
    if reference:
        return load_output(reference)
    return FileOutput(directory=str(settings.outbox_dir), from_address=settings.from_address)


def resolve_gateway(reference: str) -> PaymentGateway:
    """A saved gateway Block (`type-slug/name`), or the embedded default: the sandbox."""
    return load_gateway(reference) if reference else SandboxGateway()
