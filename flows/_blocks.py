"""The Blocks a run uses, by the reference ops give (`type-slug/name`), or the embedded
defaults when they give none; an output's limits shared across workers, and the error that
names an output that is failing."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from prefect import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.exceptions import ObjectNotFound

from blocks.gateways import PaymentGateway, load_gateway
from blocks.gateways.sandbox import SandboxGateway
from blocks.outputs import load_output
from blocks.outputs.base import Output
from blocks.outputs.file import FileOutput
from memberflow.core.settings import Settings
from memberflow.sync import membermouse as membermouse_sync
from memberflow.sync import memberpress as memberpress_sync
from memberflow.sync import stripe as stripe_sync
from memberflow.sync.listed import Summary


def resolve_output(reference: str, settings: Settings) -> Output:
    """A saved output Block (`type-slug/name`), or the embedded default: .eml files."""
    if reference:
        return load_output(reference)
    return FileOutput(directory=str(settings.outbox_dir), from_address=settings.from_address)


def resolve_gateway(reference: str) -> PaymentGateway:
    """A saved gateway Block (`type-slug/name`), or the embedded default: the sandbox."""
    return load_gateway(reference) if reference else SandboxGateway()


def resolve_stripe_access(reference: str) -> tuple[str, str]:
    """(key, API address) of a saved Stripe Gateway Block, for what reads Stripe (the sync,
    the reconcile); a clear error for anything else."""
    gateway = resolve_gateway(reference)
    api_key = getattr(gateway, "api_key", None)
    if api_key is None:
        raise ValueError(
            f"this needs a Stripe Gateway Block (gateway={reference!r} is "
            f"{type(gateway).__name__}): save one with the key, then name it here"
        )
    return api_key.get_secret_value(), gateway.api_base


def resolve_sync(
    provider: str, gateway: str, settings: Settings, canceled_days: int = 180
) -> Callable[..., Summary]:
    """How to sync from `provider`: called with (engine, dry_run=..., progress=...). Stripe's
    key comes from its Gateway Block; MemberPress's and MemberMouse's from the settings."""
    if provider == "stripe":
        api_key, api_base = resolve_stripe_access(gateway)
        client = stripe_sync.client(api_key, api_base)
        return partial(stripe_sync.sync, stripe_client=client, canceled_days=canceled_days)
    if provider == "memberpress":
        site = memberpress_sync.site_from(settings)
        return partial(memberpress_sync.sync, site=site, currency=settings.currency)
    if provider == "membermouse":
        api = membermouse_sync.api_from(settings)
        return partial(membermouse_sync.sync, api=api, currency=settings.currency)
    raise ValueError(f"no sync from {provider!r}: stripe, memberpress or membermouse")


class OutputFailing(RuntimeError):
    """The output itself failed: the run is Failed, and says which Block, why and what to do."""


def shared_gate(sink: Output, settings: Settings) -> Callable[[], Any] | None:
    """Where workers share outputs: a slot of the output's Prefect global concurrency limits
    around each send. They must exist (strict), or the run stops here, before claiming."""
    if not settings.shared_output_limits:
        return None
    names = [name for name in sink.shared_limit_names() if name]
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                raise OutputFailing(
                    f"MEMBERFLOW_SHARED_OUTPUT_LIMITS is on but the global concurrency limit "
                    f"{name!r} does not exist: run `memberflow server share-limits "
                    f"{describe(sink)}` once (and again after changing the Block's limits)"
                ) from None
    return partial(shared_slot, *names)


@contextmanager
def shared_slot(in_flight: str, rate: str | None = None) -> Iterator[None]:
    """One send's share of an output's limits, across every worker."""
    if rate:
        rate_limit(rate, strict=True)
    with concurrency(in_flight, strict=True):
        yield


def describe(sink: Output) -> str:
    name = getattr(sink, "_block_document_name", None)
    kind = (
        sink.get_block_type_slug() if hasattr(sink, "get_block_type_slug") else type(sink).__name__
    )
    return f"{kind}/{name}" if name else kind
