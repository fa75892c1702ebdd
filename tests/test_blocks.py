"""Prefect's own standard test suite over every output Block, plus plugin discovery."""

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import blocks
from blocks.base import Output
from blocks.gateway import load_gateway
from blocks.sandbox_gateway import SandboxGateway
from blocks.stripe_gateway import StripeGateway

BUILT_IN = [
    blocks.FileOutput,
    blocks.SmtpOutput,
    blocks.WebhookOutput,
    blocks.ZapierOutput,
    blocks.ScriptOutput,
]


class TestOutputBlocks(BlockStandardTestSuite):
    @pytest.fixture(params=BUILT_IN, ids=lambda cls: cls.__name__)
    def block(self, request):
        return request.param


class TestGatewayBlocks(BlockStandardTestSuite):
    @pytest.fixture(params=[SandboxGateway, StripeGateway], ids=lambda cls: cls.__name__)
    def block(self, request):
        return request.param


def test_the_stripe_key_is_masked_and_a_saved_gateway_loads_by_reference(prefect_harness):
    stripe = StripeGateway(api_key="rk_live_secretvalue")
    assert "rk_live_secretvalue" not in repr(stripe)
    SandboxGateway(funds_arrive_after_days=2).save("blocks-test", overwrite=True)
    loaded = load_gateway("memberflow-sandbox-gateway/blocks-test")
    assert isinstance(loaded, SandboxGateway) and loaded.funds_arrive_after_days == 2
    blocks.FileOutput(directory="x").save("not-a-gateway", overwrite=True)
    with pytest.raises(TypeError, match="not a payment gateway"):
        load_gateway("memberflow-file-output/not-a-gateway")


def test_every_built_in_output_is_discovered():
    found = blocks.discover_outputs()
    assert set(found.values()) >= set(BUILT_IN)


def test_secrets_are_masked_in_the_blocks_representation():
    smtp = blocks.SmtpOutput(host="h", from_address="a@b.c", password="hunter2")
    assert "hunter2" not in repr(smtp) and "hunter2" not in str(smtp.model_dump())
    webhook = blocks.WebhookOutput(url="http://x", secret="s3cret-value")
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

    monkeypatch.setattr(blocks, "entry_points", lambda group: [EntryPoint(), GoodEntryPoint()])
    found = blocks.discover_outputs()
    assert found["memberflow-test-good-output"] is Good
    assert blocks.SmtpOutput in found.values()
    assert "output plugin 'broken' could not be loaded" in caplog.text
