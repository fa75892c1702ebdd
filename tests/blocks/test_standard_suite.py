"""Prefect's own standard test suite over every discovered output and gateway Block, plus
plugin discovery."""

import prefect.blocks.core
import pytest

import blocks
from blocks import registry
from blocks.gateways import discover_gateways, load_gateway
from blocks.gateways.sandbox import SandboxGateway
from blocks.gateways.stripe_gateway import StripeGateway
from blocks.outputs import discover_outputs, load_output
from blocks.outputs.base import Output
from blocks.outputs.file import FileOutput
from blocks.outputs.smtp import SmtpOutput
from blocks.outputs.webhook import WebhookOutput
from tests.support.blocks import OfflineBlockStandardTestSuite

OUTPUTS = sorted(discover_outputs().values(), key=lambda cls: cls.__name__)
GATEWAYS = sorted(discover_gateways().values(), key=lambda cls: cls.__name__)


class TestOutputBlocks(OfflineBlockStandardTestSuite):
    @pytest.fixture(params=OUTPUTS, ids=lambda cls: cls.__name__)
    def block(self, request):
        return request.param


class TestGatewayBlocks(OfflineBlockStandardTestSuite):
    @pytest.fixture(params=GATEWAYS, ids=lambda cls: cls.__name__)
    def block(self, request):
        return request.param


def test_the_folders_are_scanned_so_no_built_in_is_listed_by_hand():
    kinds = {
        slug.removeprefix("memberflow-").removesuffix("-output") for slug in discover_outputs()
    }
    assert {"file", "smtp", "webhook", "zapier", "script"} <= kinds
    assert "http" not in kinds, "an abstract base is not an output"
    assert set(discover_gateways().values()) == {SandboxGateway, StripeGateway}


def test_importing_blocks_exposes_every_block_for_prefect_block_register():
    for cls in OUTPUTS + GATEWAYS:
        assert getattr(blocks, cls.__name__) is cls


def test_the_stripe_key_is_masked_and_a_saved_gateway_loads_by_reference(prefect_harness):
    stripe = StripeGateway(api_key="rk_live_secretvalue")
    assert "rk_live_secretvalue" not in repr(stripe)
    SandboxGateway(funds_arrive_after_days=2).save("blocks-test", overwrite=True)
    loaded = load_gateway("memberflow-sandbox-gateway/blocks-test")
    assert isinstance(loaded, SandboxGateway) and loaded.funds_arrive_after_days == 2
    FileOutput(directory="x").save("not-a-gateway", overwrite=True)
    with pytest.raises(TypeError, match="not a payment gateway"):
        load_gateway("memberflow-file-output/not-a-gateway")


def test_a_saved_output_of_a_known_type_loads_without_importing_every_collection(
    prefect_harness, monkeypatch
):
    """Resolving a reference through Prefect's registry imported every installed collection
    first (Dask's among them): half a second of CPU and 30 MB on each run."""

    def refuse(*args, **kwargs):
        raise AssertionError("loaded every Prefect collection")

    WebhookOutput(url="http://x", secret="s", max_concurrency=7).save("known", overwrite=True)
    monkeypatch.setattr(prefect.blocks.core, "load_prefect_collections", refuse)
    loaded = load_output("memberflow-webhook-output/known")
    assert isinstance(loaded, WebhookOutput) and loaded.max_concurrency == 7


def test_secrets_are_masked_in_the_blocks_representation():
    smtp = SmtpOutput(host="h", from_address="a@b.c", password="hunter2")
    assert "hunter2" not in repr(smtp) and "hunter2" not in str(smtp.model_dump())
    webhook = WebhookOutput(url="http://x", secret="s3cret-value")
    assert "s3cret-value" not in repr(webhook)


def test_a_broken_plugin_is_reported_not_fatal(monkeypatch, caplog):
    class EntryPoint:
        name, value = "broken", "nowhere:Thing"

        def load(self):
            raise ImportError("No module named 'nowhere'")

    class Good(Output):
        """A test output.

        Example:
            ```python
            from tests.test_blocks import Good
            output = Good.load("BLOCK_NAME")
            ```
        """

        _block_type_name = "memberflow Test Good Output"

        def send(self, message):
            raise NotImplementedError

    class GoodEntryPoint:
        name, value = "good", "tests:Good"

        def load(self):
            return Good

    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint(), GoodEntryPoint()])
    found = discover_outputs()
    assert found["memberflow-test-good-output"] is Good
    assert SmtpOutput in found.values()
    assert "memberflow.outputs plugin 'broken' could not be loaded" in caplog.text
